//! Feeds arbitrary bytes to every parser of the protocol: as a binary audio frame, and (when they
//! are UTF-8) as client and server text messages. A panic, hang or overflow is a finding. Whatever
//! decodes must re-encode to the same bytes.
#![no_main]

use aura_protocol::{AudioFrame, ClientMessage, ServerMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = AudioFrame::decode(data) {
        let samples: Vec<i16> = frame.samples().collect();
        let mut again = Vec::new();
        AudioFrame::encode(&frame.header, &samples, &mut again)
            .expect("a decoded frame re-encodes");
        assert_eq!(again, data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(msg) = ClientMessage::parse(text) {
            assert_eq!(ClientMessage::parse(&msg.to_json()), Ok(msg));
        }
        if let Ok(msg) = ServerMessage::parse(text) {
            assert_eq!(ServerMessage::parse(&msg.to_json()), Ok(msg));
        }
    }
});
