//! Every request the broker accepts, run for real: the input is a request frame
//! (header and body, no length prefix) whose api key and version are folded onto
//! an entry of SUPPORTED_APIS; it is decoded as a connection decodes it, handled
//! by `api::handle` against one broker opened on a temp data dir, and the
//! response encoded. Values that decode but make no sense
//! reach the handlers, where a panic would otherwise hide.
//!
//! The harness makes the CRCs of produced batches valid (so batches get past the
//! checksum), bounds waits (Fetch's max_wait_ms at 10 ms, a pending reply
//! dropped after 2 s; see `runnel_fuzz::FuzzBroker`) and resets the broker's topics and groups after
//! each input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runnel_fuzz::{FuzzBroker, request_frame};

thread_local! {
    static BROKER: FuzzBroker = FuzzBroker::start();
}

fuzz_target!(|data: &[u8]| {
    let Some(frame) = request_frame(data) else {
        return;
    };
    BROKER.with(|broker| {
        broker.run(frame);
        broker.reset();
    });
});
