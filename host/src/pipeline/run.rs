//! The run loop: ingest, operators and sink on their own threads, joined by
//! bounded channels. A slow stage blocks the one before it — backpressure —
//! so memory stays bounded whatever the input rate.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use super::build::{Pipeline, SinkSpec, SourceSpec};
use super::ingest::{Ingest, IngestError};
use super::stage::StageKind;
use super::summary::Summary;
use crate::sink::{ConsoleSink, DeadLetterKind, DeadLetters, JsonFileSink, NullSink, Sink};
use crate::source::LineSource;
use crate::time::BoundedOutOfOrderness;

/// Batches in flight between two stages.
const CHANNEL_BATCHES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot open the source {path}: {error}")]
    OpenSource { path: String, error: std::io::Error },
    #[error("cannot open the sink {path}: {error}")]
    OpenSink { path: String, error: std::io::Error },
    #[error("cannot open the dead-letter output {path}: {error}")]
    OpenDeadLetter { path: String, error: std::io::Error },
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("writing results: {0}")]
    Sink(std::io::Error),
    #[error("writing dead letters: {0}")]
    DeadLetter(std::io::Error),
}

/// Runs `pipeline` to the end of its input, or until `stop` is set.
pub fn run(mut pipeline: Pipeline, stop: &AtomicBool) -> Result<Summary, RunError> {
    let started = Instant::now();
    let source = match &pipeline.source {
        SourceSpec::File {
            path,
            max_line_bytes,
        } => LineSource::open(path, *max_line_bytes).map_err(|error| RunError::OpenSource {
            path: path.display().to_string(),
            error,
        })?,
        SourceSpec::Stdin { max_line_bytes } => LineSource::stdin(*max_line_bytes),
    };
    let mut sink: Box<dyn Sink> = match &pipeline.sink {
        SinkSpec::Console => Box::new(ConsoleSink::new()),
        SinkSpec::File(path) => {
            Box::new(
                JsonFileSink::create(path).map_err(|error| RunError::OpenSink {
                    path: path.display().to_string(),
                    error,
                })?,
            )
        }
        SinkSpec::Null => Box::new(NullSink::default()),
    };
    let dead = match &pipeline.dead_letter {
        Some(path) => DeadLetters::to_file(path).map_err(|error| RunError::OpenDeadLetter {
            path: path.display().to_string(),
            error,
        })?,
        None => DeadLetters::to_stderr(),
    };
    let source_name = source.name().to_string();
    let ingest = Ingest {
        schema: pipeline.schema.clone(),
        time_column: pipeline.time_column,
        watermarks: BoundedOutOfOrderness::new(pipeline.max_out_of_orderness_ms),
        batch_size: pipeline.batch_size,
    };
    let stages = &mut pipeline.stages;
    let (to_operators, from_ingest) = sync_channel(CHANNEL_BATCHES);
    let (to_sink, from_operators) = sync_channel(CHANNEL_BATCHES);

    let (ingested, processed, results_out) = std::thread::scope(|scope| {
        let dead = &dead;
        let ingest = std::thread::Builder::new()
            .name("weir-ingest".into())
            .spawn_scoped(scope, move || ingest.run(source, to_operators, dead, stop))
            .expect("spawning the ingest thread");
        let operators = std::thread::Builder::new()
            .name("weir-operators".into())
            .spawn_scoped(scope, move || -> std::io::Result<()> {
                for mut batch in from_ingest {
                    for stage in stages.iter_mut() {
                        batch = stage.process(batch, &source_name, dead)?;
                    }
                    if !batch.is_empty() && to_sink.send(batch).is_err() {
                        break; // the sink failed; it reports why
                    }
                }
                Ok(())
            })
            .expect("spawning the operator thread");
        let mut written = 0u64;
        let mut sink_result = Ok(());
        for batch in from_operators {
            written += batch.len() as u64;
            if let Err(e) = sink.write(&batch) {
                sink_result = Err(e);
                break;
            }
        }
        let sink_result = sink_result.and_then(|()| sink.flush());
        let ingested = ingest.join().expect("the ingest thread panicked");
        let processed = operators.join().expect("the operator thread panicked");
        (ingested, processed, sink_result.map(|()| written))
    });
    let results_out = results_out.map_err(RunError::Sink)?;
    processed.map_err(RunError::DeadLetter)?;
    let ingested = ingested?;
    dead.flush().map_err(RunError::DeadLetter)?;

    let mut summary = Summary {
        pipeline: pipeline.name.clone(),
        records_read: ingested.records_read,
        events_in: ingested.events_in,
        decode_failures: dead.count(DeadLetterKind::Decode),
        late_events: dead.count(DeadLetterKind::Late),
        plugin_failures: dead.count(DeadLetterKind::Plugin),
        results_out,
        elapsed: started.elapsed(),
        completed: ingested.completed,
        ..Summary::default()
    };
    for stage in &pipeline.stages {
        summary
            .stages
            .push((stage.name.clone(), stage.rows_in, stage.rows_out));
        if let StageKind::Window(window) = &stage.kind {
            summary.windows_fired += window.fired_windows();
            summary.open_windows_discarded += window.open_windows() as u64;
        }
    }
    Ok(summary)
}
