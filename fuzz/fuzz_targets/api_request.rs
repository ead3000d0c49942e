//! Any bytes as the body of `POST /v1/up` or `/v1/down`: decoding never panics, and a request
//! that decodes is one the daemon can plan from without panicking or hanging (a client may
//! send a stack no config would give: cycles, unknown dependencies, odd ports).
#![no_main]

use berth::api::types::{DownRequest, UpRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<UpRequest>(data) {
        let _ = berth::daemon::orchestrator::validate(&request);
    }
    let _ = serde_json::from_slice::<DownRequest>(data);
});
