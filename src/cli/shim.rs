//! `berth shim` (hidden): the keeper of one service, started by the daemon with the service's
//! spec as JSON on stdin. Its stdout and stderr are whatever the spawner gave it (the daemon
//! gives /dev/null, so nothing keeps a terminal or a caller's pipe open).

use super::{Exit, Failure};
use crate::shim::{ShimSpec, keeper};
use std::io::Read;

pub fn run() -> Result<Exit, Failure> {
    crate::process::close_inherited_fds();
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| Failure::usage(format!("shim: cannot read the spec from stdin: {e}")))?;
    let spec: ShimSpec = serde_json::from_str(&input)
        .map_err(|e| Failure::usage(format!("shim: invalid spec: {e}")))?;
    if spec.argv.is_empty() {
        return Err(Failure::usage("shim: the spec has an empty argv"));
    }
    keeper::run(&spec).map_err(|e| Failure::failed(format!("shim for `{}`: {e}", spec.service)))?;
    Ok(Exit::Done)
}
