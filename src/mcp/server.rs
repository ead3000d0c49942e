//! The MCP server: lists the tools and answers calls, each on a blocking thread so a slow start
//! never holds up the protocol; every failure of a call, a panic included, is an error result.

use super::{calls, tools};
use crate::cli::args::Global;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;

const INSTRUCTIONS: &str = "berth runs the services of the local stack described in berth.yaml \
(found from this server's working directory). Call `status` to see what runs; `ensure` before \
using a service; `logs` and `events` to find out why something failed; `restart` after changing \
code; `down` to stop. Service names are those of berth.yaml; a wrong one is an error naming the \
closest.";

pub struct Server {
    global: Arc<Global>,
}

impl Server {
    pub fn new(global: &Global) -> Server {
        Server {
            global: Arc::new(Global {
                file: global.file.clone(),
                profile: global.profile.clone(),
                json: false,
                quiet: true,
                verbose: 0,
            }),
        }
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("berth", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if !tools::all().iter().any(|t| t.name == name) {
            return Err(ErrorData::invalid_params(format!("no tool `{name}`"), None));
        }
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let global = Arc::clone(&self.global);
        let outcome =
            tokio::task::spawn_blocking(move || calls::call(&global, &name, arguments)).await;
        let result = match outcome {
            Ok(Ok(done)) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(done.text)]);
                result.structured_content = Some(done.json);
                result
            }
            Ok(Err(message)) => CallToolResult::error(vec![ContentBlock::text(message)]),
            Err(panicked) => CallToolResult::error(vec![ContentBlock::text(format!(
                "the tool failed unexpectedly: {panicked}"
            ))]),
        };
        Ok(result.into())
    }
}
