//! The run loop: reader, decoders, operators and sink on their own threads,
//! joined by bounded channels. A slow stage blocks the one before it —
//! backpressure — so memory stays bounded whatever the input rate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::build::Pipeline;
use super::deliver::{deliver, ToSink};
use super::error::RunError;
use super::ingest::decode_chunks;
use super::parallel;
use super::sequencer::Sequencer;
use super::stage::Stage;
use super::summary::Summary;
use crate::data::Origin;
use crate::source::{Source, SourceContext, SourceStats};
use crate::window::PROCESSING_TICK;

mod opened;
mod serial;
#[cfg(test)]
mod tests;
mod totals;

use opened::Opened;

use totals::{summarize_stages, RunTotals};

/// Batches in flight between two stages.
const CHANNEL_BATCHES: usize = 4;

/// Decoder threads: one per core, at most four (beyond that the reader and
/// the operators are the bottleneck).
fn decoder_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs `pipeline` to the end of its input, or until `stop` is set.
pub fn run(pipeline: Pipeline, stop: &AtomicBool) -> Result<Summary, RunError> {
    run_reading(pipeline, stop, None)
}

/// [`run`], reading `source` when given instead of the pipeline's own.
pub(crate) fn run_reading(
    mut pipeline: Pipeline,
    stop: &AtomicBool,
    source: Option<Box<dyn Source>>,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    let Opened {
        origin,
        source_stats,
        store,
        resumed,
        input,
        decoding,
        mut sink,
        taps,
        sink_name,
        sink_stats,
        dead_out,
        dead,
        commits,
        message_fields,
        mut sequencer,
        mut checkpointer,
        progress,
    } = Opened::open(&mut pipeline, source)?;
    let complete = AtomicBool::new(false);
    // Dropped when the run is done: the progress thread wakes at once,
    // instead of at its next poll, which would hold every run up to 100 ms.
    let (progress_done, progress_wait) = crossbeam_channel::bounded::<()>(0);
    let progress_style = pipeline.progress;
    let (schema, time_column, batch_size) = (
        pipeline.schema.clone(),
        pipeline.time_column,
        pipeline.batch_size,
    );
    let decoders = pipeline.decoders.unwrap_or_else(decoder_threads).max(1);
    let shutdown_timeout = pipeline.shutdown_timeout;
    source_stats
        .decoders
        .store(decoders as u64, Ordering::Relaxed);
    let (parallelism, instances) = parallel_instances(&pipeline)?;
    let processing_ticks = pipeline.stages.iter().any(Stage::needs_ticks);
    let stages = &mut pipeline.stages;
    let (to_decoders, from_reader) = crossbeam_channel::bounded(CHANNEL_BATCHES);
    let (to_sequencer, from_decoders) = crossbeam_channel::bounded(CHANNEL_BATCHES);
    let (to_sink, from_operators) = crossbeam_channel::bounded::<ToSink>(CHANNEL_BATCHES);
    // With checkpoints, offsets are committed with each checkpoint instead.
    let track_offsets = commits.is_some() && store.is_none();

    let (read, processed, results_out) = std::thread::scope(|scope| {
        let (dead, complete, sequencer, schema) = (&dead, &complete, &mut sequencer, &schema);
        let checkpointer = &mut checkpointer;
        let decoding = &decoding;
        let origin = &origin;
        let stats: &SourceStats = &source_stats;
        let shared_stats = source_stats.clone();
        let spawn_error = "spawning a pipeline thread";
        let reader = std::thread::Builder::new()
            .name("weir-read".into())
            .spawn_scoped(scope, move || {
                input.run(SourceContext {
                    out: to_decoders,
                    chunk_records: batch_size,
                    stop,
                    complete,
                    stats: &shared_stats,
                })
            })
            .expect(spawn_error);
        for i in 0..decoders {
            let (input, output) = (from_reader.clone(), to_sequencer.clone());
            std::thread::Builder::new()
                .name(format!("weir-decode-{i}"))
                .spawn_scoped(scope, move || {
                    decode_chunks(
                        schema,
                        time_column,
                        message_fields,
                        decoding,
                        input,
                        output,
                        stats,
                    )
                })
                .expect(spawn_error);
        }
        if let Some((start, len)) = progress {
            let (stats, done) = (source_stats.clone(), &progress_wait);
            std::thread::Builder::new()
                .name("weir-progress".into())
                .spawn_scoped(scope, move || {
                    super::progress::show(progress_style, start, len, &stats, done)
                })
                .expect(spawn_error);
        }
        // Only the gauges keep this end of the reader's queue: held any
        // longer, a reader whose decoders stopped (the sink failed) would
        // wait on a full queue for ever.
        let decode_queue = from_reader;
        drop(to_sequencer);
        let control = pipeline.control.take();
        if let Some(control) = &control {
            control.show_dead_letters(dead.counts());
            control.show_source(source_stats.clone());
            control.show_sink(sink_stats.clone());
            if let Some(store) = &store {
                control.show_checkpoints(store.stats.clone());
            }
        }
        let publish_source_gauges = {
            let (from_decoders, to_sink) = (from_decoders.clone(), to_sink.clone());
            move |sequencer: &Sequencer| {
                stats
                    .watermark_ms
                    .store(sequencer.watermark(), Ordering::Relaxed);
                publish_partition_watermarks(sequencer, origin, stats);
                let fill = |len: usize| (len * 1000 / CHANNEL_BATCHES) as u64;
                for (gauge, len) in stats.queue_fill_permille.iter().zip([
                    decode_queue.len(),
                    from_decoders.len(),
                    to_sink.len(),
                ]) {
                    gauge.store(fill(len), Ordering::Relaxed);
                }
            }
        };
        let (operators, parallel_threads) = if let Some(instances) = instances {
            let ticks = if processing_ticks {
                crossbeam_channel::tick(PROCESSING_TICK)
            } else {
                crossbeam_channel::never()
            };
            let parts = parallel::Parts {
                instances,
                partitioner: parallel::Partitioner::new(&parallelism),
                sequencer,
                checkpointer: Option::as_mut(checkpointer),
                chunks: from_decoders,
                ticks,
                to_sink,
                dead,
                origin,
                schema: schema.clone(),
                track_offsets,
                complete,
                taps: &taps,
            };
            (
                None,
                Some(parallel::spawn(scope, parts, publish_source_gauges)),
            )
        } else {
            let operators = serial::SerialOperators {
                stages,
                sequencer,
                checkpointer: Option::as_mut(checkpointer),
                control,
                to_sink,
                dead,
                origin,
                schema: schema.clone(),
                track_offsets,
                taps: taps.clone(),
            };
            let operators = std::thread::Builder::new()
                .name("weir-operators".into())
                .spawn_scoped(scope, move || {
                    operators.run(from_decoders, complete, publish_source_gauges)
                })
                .expect(spawn_error);
            (Some(operators), None)
        };
        let delivered = deliver(
            &mut sink,
            &sink_name,
            &sink_stats,
            from_operators,
            &dead_out,
            commits.as_ref(),
            store.as_ref(),
            (stop, shutdown_timeout),
        );
        let read = reader.join().expect("the reader thread panicked");
        let (processed, control, instance_stages) = match (operators, parallel_threads) {
            (Some(operators), _) => {
                let (processed, control) = operators.join().expect("the operator thread panicked");
                (processed, control, Vec::new())
            }
            (None, Some(threads)) => {
                let (stages, processed) = threads.join();
                (processed, None, stages)
            }
            (None, None) => unreachable!("the operators run on one thread or several"),
        };
        drop(progress_done);
        let processed = processed.map(|()| (control, instance_stages));
        (read, processed, delivered)
    });
    let results_out = match results_out {
        Ok(results) => results,
        // `weir run … | head`: the reader of the output left; not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => return Err(RunError::Sink(e)),
    };
    let (control, instance_stages) = processed?;
    read?;
    dead_out.flush().map_err(RunError::DeadLetter)?;
    let ran = RunTotals {
        sequencer: &sequencer,
        dead: &dead,
        source: &source_stats,
        sink: &sink_stats,
        store: store.as_ref(),
        results_out,
        resumed_from: resumed.as_ref().map(|c| c.id),
        elapsed: started.elapsed(),
        completed: complete.load(Ordering::SeqCst),
    };
    let mut summary = ran.summary(&pipeline.name);
    if let Some(control) = &control {
        let (changes, retired_restarts) = control.totals();
        summary.plugin_changes = changes;
        summary.plugin_restarts += retired_restarts;
    }
    let stages = std::mem::take(&mut pipeline.stages);
    summarize_stages(&mut summary, stages, instance_stages, parallelism.instances);
    Ok(summary)
}

fn publish_partition_watermarks(sequencer: &Sequencer, origin: &Origin, stats: &SourceStats) {
    let partitions = sequencer.stream_watermarks();
    if partitions.is_empty() {
        return;
    }
    let mut shown = stats
        .partition_watermarks
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    shown.clear();
    for (stream, watermark, idle) in partitions {
        if let Some((topic, partition)) = origin.topic_partition(stream) {
            shown.insert((topic.to_string(), partition), (watermark, idle));
        }
    }
}

/// How many instances the operators run as (saying why when fewer than
/// asked), and each instance's stages when more than one.
#[allow(clippy::type_complexity)]
fn parallel_instances(
    pipeline: &Pipeline,
) -> Result<(parallel::Parallelism, Option<Vec<Vec<Stage>>>), RunError> {
    let parallelism = parallel::choose(
        pipeline.parallelism,
        &pipeline.stages,
        &pipeline.schema,
        pipeline.control.is_some(),
    );
    if let Some(reason) = &parallelism.limited_by {
        tracing::info!(
            asked = pipeline.parallelism,
            "the operators run as one instance: {reason}"
        );
    }
    let instances = (parallelism.instances > 1)
        .then(|| parallel::instance_stages(&pipeline.stages, parallelism.instances))
        .transpose()
        .map_err(RunError::Parallel)?;
    Ok((parallelism, instances))
}
