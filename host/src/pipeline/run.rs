//! The run loop: reader, decoders, operators and sink on their own threads,
//! joined by bounded channels. A slow stage blocks the one before it —
//! backpressure — so memory stays bounded whatever the input rate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::build::Pipeline;
use super::checkpointing::Checkpointer;
use super::control::ControlPort;
use super::deliver::{deliver, Commits, ToSink};
use super::endpoints::SourceSpec;
use super::error::RunError;
use super::ingest::{decode_chunks, read_chunks, Decoding, MessageFields, ReadError};
use super::open::{decoding_for, open_checkpoints, open_input, open_sink, resume_error, Input};
use super::parallel;
use super::progress::Progress;
use super::sequencer::Sequencer;
use super::stage::{Stage, StageError};
use super::summary::Summary;
use crate::data::{Batch, Origin};
use crate::sink::{DeadLetterKind, DeadLetters, SinkStats};
use crate::source::kafka::{read_kafka, OffsetCommitter};
use crate::source::{read_http, SourceStats};
use crate::state::SourcePosition;
use crate::time::FutureLimit;
use crate::window::PROCESSING_TICK;

/// Batches in flight between two stages.
const CHANNEL_BATCHES: usize = 4;

/// Decoder threads: one per core, at most four (beyond that the reader and
/// the operators are the bottleneck).
fn decoder_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs `pipeline` to the end of its input, or until `stop` is set.
pub fn run(mut pipeline: Pipeline, stop: &AtomicBool) -> Result<Summary, RunError> {
    let started = Instant::now();
    let origin = pipeline.source.origin();
    let source_stats = Arc::new(SourceStats::default());
    source_stats.watermark_ms.store(i64::MIN, Ordering::Relaxed);
    let (store, resumed) = open_checkpoints(&mut pipeline)?;
    let mut input = open_input(
        &pipeline.source,
        &source_stats,
        resumed.as_ref().map(|c| &c.source),
    )?;
    let decoding = decoding_for(&pipeline.source, &mut input, &pipeline.schema)?;
    let results = pipeline
        .stages
        .last()
        .map_or(pipeline.schema.clone(), |stage| {
            stage.output_schema().clone()
        });
    let (mut sink, sink_name) = open_sink(
        &pipeline.sink,
        &results,
        store.is_some(),
        resumed.as_ref().map(|c| c.sink),
    )?;
    let sink_stats = Arc::new(SinkStats::default());
    let _ = sink_stats.name.set(sink_name.clone());
    let resume_dead_letters = resumed.as_ref().map(|c| c.dead_letter_bytes);
    let dead_out = match &pipeline.dead_letter {
        Some(path) => DeadLetters::to_file(path, resume_dead_letters).map_err(|error| {
            RunError::OpenDeadLetter {
                path: path.display().to_string(),
                error,
            }
        })?,
        None => DeadLetters::to_stderr(),
    };
    // The operators' dead letters reach the file through the sink thread.
    let dead = dead_out.staged();
    let (commits, message_fields, idle_timeout) = match &input {
        Input::Kafka(consumer, settings) => (
            Some(Commits {
                committer: OffsetCommitter::new(consumer.clone(), origin.clone()),
                interval: settings.commit_interval,
                stats: source_stats.clone(),
            }),
            MessageFields {
                key: settings.key_field,
                timestamp: settings.timestamp_field,
            },
            settings.idle_timeout,
        ),
        Input::Lines(_) | Input::Http(_) => (None, MessageFields::default(), None),
    };
    let mut sequencer = Sequencer::new(
        pipeline.max_out_of_orderness_ms,
        idle_timeout,
        FutureLimit::new(pipeline.max_future_ms),
        origin.clone(),
    );
    if let Some(checkpoint) = &resumed {
        sequencer
            .resume(checkpoint)
            .map_err(|reason| resume_error(checkpoint, &store, reason))?;
    }
    let mut checkpointer = store
        .as_ref()
        .map(|s| {
            let first_id = s.next_id()?;
            Ok::<_, RunError>(Checkpointer::new(
                &pipeline.name,
                s.settings().interval,
                first_id,
            ))
        })
        .transpose()?;
    let complete = AtomicBool::new(false);
    // A bounded file on a terminal: (where reading starts, the file's length).
    let progress = match &pipeline.source {
        SourceSpec::File {
            path,
            follow: false,
            ..
        } if pipeline.progress != Progress::Off => std::fs::metadata(path).ok().map(|m| {
            let start = match resumed.as_ref().map(|c| &c.source) {
                Some(SourcePosition::Lines { byte_offset, .. }) => *byte_offset,
                _ => 0,
            };
            (start, m.len())
        }),
        _ => None,
    };
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
        .then(|| {
            (0..parallelism.instances)
                .map(|i| parallel::instance_stages(&pipeline.stages, i, parallelism.instances))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(RunError::Parallel)?;
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
        let http_stats = source_stats.clone();
        let spawn_error = "spawning a pipeline thread";
        let quoted = matches!(decoding, Decoding::Csv(_));
        let reader = std::thread::Builder::new()
            .name("weir-read".into())
            .spawn_scoped(scope, move || match input {
                Input::Lines(source) => read_chunks(
                    source,
                    quoted,
                    batch_size,
                    to_decoders,
                    stop,
                    complete,
                    stats,
                )
                .map_err(RunError::Read),
                Input::Http(source) => read_http(source, to_decoders, stop, http_stats)
                    .map_err(|error| RunError::Read(ReadError::new("http", error))),
                Input::Kafka(consumer, settings) => read_kafka(
                    &consumer,
                    &settings,
                    batch_size,
                    to_decoders,
                    stop,
                    complete,
                    stats,
                )
                .map_err(RunError::Kafka),
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
        let decode_queue = from_reader.clone();
        drop((from_reader, to_sequencer));
        let mut control = pipeline.control.take();
        if let Some(control) = &control {
            control.show_dead_letters(dead.counts());
            control.show_source(source_stats.clone());
            control.show_sink(sink_stats.clone());
            if let Some(store) = &store {
                control.show_checkpoints(store.stats.clone());
            }
        }
        let publish_source_gauges = {
            let (decode_queue, from_decoders, to_sink) =
                (decode_queue.clone(), from_decoders.clone(), to_sink.clone());
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
            };
            (
                None,
                Some(parallel::spawn(scope, parts, publish_source_gauges)),
            )
        } else {
            let operators = std::thread::Builder::new()
            .name("weir-operators".into())
            .spawn_scoped(
                scope,
                move || -> (Result<(), StageError>, Option<ControlPort>) {
                    // The dead letters staged so far, to the sink thread. False
                    // when the sink has gone away; it reports why.
                    let send_dead_letters = || -> bool {
                        let lines = dead.take_staged();
                        lines.is_empty() || to_sink.send(ToSink::DeadLetters(lines)).is_ok()
                    };
                    // Staged dead letters go first, so the sink writes them in
                    // input order.
                    let send = |message: ToSink| -> bool {
                        send_dead_letters() && to_sink.send(message).is_ok()
                    };
                    let run_stages =
                        |batch: Batch, stages: &mut [Stage]| -> Result<bool, StageError> {
                            let mut batch = batch;
                            for stage in stages.iter_mut() {
                                batch = stage.process(batch, origin, dead)?;
                            }
                            Ok(batch.is_empty() || send(ToSink::Rows(batch)))
                        };
                    let progress = |sequencer: &Sequencer, stages: &[Stage]| {
                        let mut retained = BTreeMap::new();
                        for stage in stages {
                            stage.retained(&mut retained);
                        }
                        let offsets = sequencer.commit_offsets(&retained);
                        send(ToSink::Progress(offsets))
                    };
                    let requests = control
                        .as_ref()
                        .map_or_else(crossbeam_channel::never, |c| c.requests());
                    // Processing-time windows close by the clock, rows or not.
                    let ticks = if stages.iter().any(Stage::needs_ticks) {
                        crossbeam_channel::tick(PROCESSING_TICK)
                    } else {
                        crossbeam_channel::never()
                    };
                    let result = 'batches: loop {
                        crossbeam_channel::select! {
                            recv(from_decoders) -> chunk => {
                                let Ok(chunk) = chunk else { break Ok(()) };
                                let batches = match sequencer.accept(chunk, dead) {
                                    Ok(batches) => batches,
                                    Err(e) => break Err(StageError::DeadLetter(e)),
                                };
                                let mut sink_open = true;
                                for batch in batches {
                                    match run_stages(batch, stages) {
                                        Ok(open) => sink_open &= open,
                                        Err(e) => break 'batches Err(e),
                                    }
                                    if let Some(control) = &mut control {
                                        control.after_batch(stages);
                                    }
                                    if !sink_open {
                                        break;
                                    }
                                }
                                if track_offsets && sink_open {
                                    sink_open = progress(sequencer, stages);
                                }
                                publish_source_gauges(sequencer);
                                if let Some(checkpointer) = checkpointer.as_mut().filter(|c| c.due()) {
                                    if sink_open {
                                        sink_open = send(checkpointer.take(sequencer, stages));
                                    }
                                }
                                sink_open = sink_open && send_dead_letters();
                                if !sink_open {
                                    break Ok(());
                                }
                            }
                            recv(ticks) -> _ => {
                                let tick = Batch::empty(schema.clone(), sequencer.watermark());
                                match run_stages(tick, stages) {
                                    Ok(true) => {}
                                    Ok(false) => break Ok(()),
                                    Err(e) => break Err(e),
                                }
                            }
                            recv(requests) -> request => {
                                if let (Ok(request), Some(control)) = (request, &mut control) {
                                    control.apply(request, stages);
                                }
                            }
                        }
                    };
                    // The end of a bounded input: the watermark jumps to the end of
                    // time and every remaining window fires, as Flink does.
                    let result = match result {
                        Ok(()) if complete.load(Ordering::SeqCst) => {
                            run_stages(Batch::empty(schema.clone(), i64::MAX), stages).map(drop)
                        }
                        other => other,
                    };
                    if track_offsets && result.is_ok() {
                        progress(sequencer, stages);
                    }
                    if let (Some(checkpointer), true) = (checkpointer.as_mut(), result.is_ok()) {
                        send(checkpointer.take(sequencer, stages));
                    }
                    send_dead_letters();
                    if let Some(control) = &mut control {
                        control.finish(stages);
                    }
                    (result, control)
                },
            )
            .expect(spawn_error);
            (Some(operators), None)
        };
        let delivered = deliver(
            sink.as_mut(),
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
    let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);

    dead_out.flush().map_err(RunError::DeadLetter)?;

    let mut summary = Summary {
        pipeline: pipeline.name.clone(),
        records_read: load(&source_stats.records),
        source_pauses: load(&source_stats.pauses),
        events_in: sequencer.events(),
        decode_failures: dead.count(DeadLetterKind::Decode),
        late_events: dead.count(DeadLetterKind::Late),
        plugin_failures: dead.count(DeadLetterKind::Plugin),
        sink_failures: dead.count(DeadLetterKind::Sink),
        abandoned_at_shutdown: load(&sink_stats.abandoned),
        results_digest: load(&sink_stats.digest),
        offset_commits: load(&source_stats.offset_commits),
        results_out,
        checkpoints: store.as_ref().map_or(0, |s| load(&s.stats.written)),
        checkpoint_bytes: store.as_ref().map_or(0, |s| load(&s.stats.last_bytes)),
        checkpoint_time: store.as_ref().map_or(Duration::ZERO, |s| {
            Duration::from_micros(load(&s.stats.total_write_us))
        }),
        resumed_from: resumed.as_ref().map(|c| c.id),
        elapsed: started.elapsed(),
        completed: complete.load(Ordering::SeqCst),
        ..Summary::default()
    };
    if let Some(control) = &control {
        let (changes, retired_restarts) = control.totals();
        summary.plugin_changes = changes;
        summary.plugin_restarts += retired_restarts;
    }
    for stage in &pipeline.stages {
        summary
            .stages
            .push((stage.name.clone(), stage.rows_in(), stage.rows_out()));
    }
    summary.parallelism = parallelism.instances;
    // Run in parallel, the stages' instances did the work; their counters
    // are shared, so they are counted once.
    let ran = if instance_stages.is_empty() {
        vec![std::mem::take(&mut pipeline.stages)]
    } else {
        instance_stages
    };
    for (i, stages) in ran.iter().enumerate() {
        for stage in stages {
            let shared = (i == 0).then_some(&*stage.stats);
            stage.operator.summarize(&stage.name, shared, &mut summary);
        }
    }
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
