//! `berth shim` (hidden): the keeper of one service, started by the daemon with the service's
//! spec as JSON on stdin. Its stdout and stderr are whatever the spawner gave it (the daemon
//! gives /dev/null, so nothing keeps a terminal or a caller's pipe open). `berth shim
//! --forker` forks such keepers for the daemon instead (see `shim::forker`).

use super::{Exit, Failure};
use crate::shim::{ShimSpec, forker, keeper};
use std::io::Read;

pub fn run(forker: bool) -> Result<Exit, Failure> {
    crate::process::close_inherited_fds();
    if forker {
        forker::serve(|spec| super::code(keep(spec)))
            .map_err(|e| Failure::failed(format!("shim forker: {e}")))?;
        return Ok(Exit::Done);
    }
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure::usage(format!("shim: cannot read the spec from stdin: {e}")))?;
    keep(&input)
}

/// Keeps the service `spec` (JSON) describes until it ends or is stopped.
fn keep(spec: &[u8]) -> Result<Exit, Failure> {
    let spec: ShimSpec = serde_json::from_slice(spec)
        .map_err(|e| Failure::usage(format!("shim: invalid spec: {e}")))?;
    if spec.argv.is_empty() {
        return Err(Failure::usage("shim: the spec has an empty argv"));
    }
    keeper::run(&spec).map_err(|e| Failure::failed(format!("shim for `{}`: {e}", spec.service)))?;
    Ok(Exit::Done)
}
