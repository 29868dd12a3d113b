//! Record batches as a producer sends them: the produce path's validation
//! (lengths, magic, CRC, record counts), the key check of compacted topics, the
//! timestamp checks and recompression, for every codec, and then the real append
//! of `api::append_records` (what Produce runs per partition) onto topics of
//! every kind, with the appended batches read back.
//!
//! Input: a selector byte (bits 0-3: the topic of `runnel_fuzz::TOPICS`, bits
//! 4-6: the codec to recompress to directly, bit 7: keep the CRCs as sent instead
//! of fixing them), then the records.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use runnel::log::record::{first_record_at_or_after, keyless_records, record_timestamps};
use runnel::log::{recompress, validate_batches};
use runnel_fuzz::{FuzzBroker, TOPICS, fix_crcs};

thread_local! {
    static BROKER: FuzzBroker = FuzzBroker::start();
}

/// Most bytes a batch may inflate to when recompressed here.
const MAX_INFLATED: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, records)) = data.split_first() else {
        return;
    };
    let mut records = records.to_vec();
    if selector & 0x80 == 0 {
        fix_crcs(&mut records);
    }
    if let Ok(batches) = validate_batches(&records) {
        let codec = (selector >> 4) & 0x07;
        for b in &batches {
            let batch = &records[b.position..b.position + b.size];
            let keyless = keyless_records(batch);
            let timestamps = record_timestamps(batch);
            let _ = first_record_at_or_after(batch, b.base_timestamp);
            if let Ok(Some(converted)) = recompress(batch, codec, MAX_INFLATED) {
                // The same records in another codec: as valid, the same keys.
                let again = validate_batches(&converted).expect("a recompressed batch is valid");
                assert_eq!(again.len(), 1);
                assert_eq!(again[0].record_count, b.record_count);
                if let Ok(keyless) = keyless {
                    assert_eq!(keyless_records(&converted).ok(), Some(keyless));
                }
                if let Ok(timestamps) = timestamps {
                    assert_eq!(record_timestamps(&converted).ok(), Some(timestamps));
                }
            }
        }
    }
    let (name, _, _) = TOPICS[usize::from(selector & 0x0f) % TOPICS.len()];
    BROKER.with(|broker| {
        let state = broker.state();
        let topic = state.topics.get(name).expect("baseline topic");
        if let Ok(base) = runnel::api::append_records(state, &topic, 0, Bytes::from(records)) {
            // What was appended reads back as valid batches from its base offset.
            let partition = topic.partition(0).expect("partition 0");
            let read = partition
                .read(base, 1 << 20, true)
                .expect("the appended offset reads");
            let stored = read.records.expect("records at the appended offset");
            validate_batches(&stored).expect("stored batches are valid");
        }
        broker.reset();
    });
});
