//! `berth mcp`: a Model Context Protocol server on stdio, so AI agents can drive the stack the
//! way their users do. A client of the CLI's own functions and of the daemon's API: the tools
//! are described in `tools`, carried out in `calls`, and served in `server`.

mod calls;
mod server;
mod tools;

use crate::cli::args::Global;
use crate::cli::{Exit, Failure};
use rmcp::ServiceExt;
use std::time::Duration;

pub fn run(global: &Global) -> Result<Exit, Failure> {
    // The protocol gets stdout to itself: it keeps a private copy, and stdout becomes stderr,
    // so that nothing any code path prints can ever corrupt the stream.
    let protocol = rustix::io::fcntl_dupfd_cloexec(std::io::stdout(), 3)
        .map_err(|e| Failure::failed(format!("cannot set up stdout: {e}")))?;
    rustix::stdio::dup2_stdout(std::io::stderr())
        .map_err(|e| Failure::failed(format!("cannot set up stdout: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the server: {e}")))?;
    let server = server::Server::new(global);
    let served = runtime.block_on(async {
        let output = tokio::fs::File::from_std(std::fs::File::from(protocol));
        let running = server
            .serve((tokio::io::stdin(), output))
            .await
            .map_err(|e| format!("the client did not initialize: {e}"))?;
        running.waiting().await.map_err(|e| e.to_string())
    });
    // A tool still running when the client went away is not waited for long.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served.map_err(Failure::failed)?;
    Ok(Exit::Done)
}
