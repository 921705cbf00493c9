//! A test plugin, not an example: implements the component interface by
//! hand, without the SDK's adapters, to return what a well-behaved plugin
//! never would, so the tests can check that the host refuses it.
//!
//! A filter reading `temperature`. Modes (config `{"mode": …}`):
//! `duplicate` (every row's index twice), `repeat-first` (index 0, `count`
//! times), `descending` (the indices backwards), `pass` (behaves). The
//! build features make
//! variants whose description lies (see Cargo.toml).

#[cfg(target_arch = "wasm32")]
mod export {
    use std::cell::RefCell;

    use weir_plugin_sdk::bindings::weir::plugin::types::{
        Accumulators, Batch, Descriptor, Field, FieldType, KeyedBatch, KeyedOutput, OperatorKind,
        Output,
    };

    #[derive(serde::Deserialize)]
    struct Config {
        mode: String,
        #[serde(default)]
        count: u32,
    }

    thread_local! {
        static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
    }

    struct Rogue;

    fn name() -> String {
        if cfg!(feature = "huge-name") {
            "n".repeat(10 << 20)
        } else {
            "rogue".into()
        }
    }

    fn reads() -> Vec<Field> {
        let count = if cfg!(feature = "many-fields") {
            200_000
        } else {
            0
        };
        let mut fields: Vec<Field> = (0..count)
            .map(|i| Field {
                name: format!("f{i}"),
                type_: FieldType::F64,
            })
            .collect();
        fields.push(Field {
            name: "temperature".into(),
            type_: FieldType::F64,
        });
        fields
    }

    impl weir_plugin_sdk::bindings::Guest for Rogue {
        fn describe() -> Descriptor {
            if cfg!(feature = "sleepy-describe") {
                std::thread::sleep(std::time::Duration::from_secs(300));
            }
            Descriptor {
                name: name(),
                version: if cfg!(feature = "huge-name") {
                    name()
                } else {
                    "0.1.0".into()
                },
                kind: OperatorKind::Filter,
                reads: reads(),
                emits: Vec::new(),
                state_version: 0,
                migrates_from: Vec::new(),
            }
        }

        fn init(config: String) -> Result<(), String> {
            let config: Config = serde_json::from_str(&config).map_err(|e| e.to_string())?;
            CONFIG.with(|slot| *slot.borrow_mut() = Some(config));
            Ok(())
        }

        fn process(input: Batch) -> Result<Output, String> {
            CONFIG.with(|slot| {
                let slot = slot.borrow();
                let config = slot.as_ref().ok_or("process before init")?;
                let rows = 0..input.count;
                let parents: Vec<u32> = match config.mode.as_str() {
                    "duplicate" => rows.flat_map(|i| [i, i]).collect(),
                    "repeat-first" => vec![0; config.count as usize],
                    "descending" => rows.rev().collect(),
                    "pass" => rows.collect(),
                    other => return Err(format!("unknown mode {other}")),
                };
                Ok(Output {
                    parents,
                    rows: Vec::new(),
                })
            })
        }

        fn process_keyed(_: KeyedBatch) -> Result<KeyedOutput, String> {
            Err("not keyed".into())
        }

        fn migrate_state(_: u32, _: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
            Err("no state".into())
        }

        fn aggregate_add(_: Accumulators, _: Batch, _: Vec<u32>) -> Result<Accumulators, String> {
            Err("not an aggregate".into())
        }

        fn aggregate_merge(_: Accumulators, _: Accumulators) -> Result<Accumulators, String> {
            Err("not an aggregate".into())
        }

        fn aggregate_result(_: Accumulators) -> Result<Batch, String> {
            Err("not an aggregate".into())
        }
    }

    weir_plugin_sdk::bindings::export!(Rogue with_types_in weir_plugin_sdk::bindings);
}
