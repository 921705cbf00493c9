//! Opening what a run reads and writes: the source (at a checkpoint's
//! position), how its records are decoded (a CSV header is read here), the
//! sink, and the checkpoint store with the checkpoint to resume from.

use std::sync::Arc;

use super::build::{Pipeline, Resume};
use super::checkpointing;
use super::endpoints::{SinkSpec, SourceSpec};
use super::error::RunError;
use super::ingest::Decoding;
use super::taps::Taps;
use crate::data::Schema;
use crate::format::csv::CsvLayout;
use crate::sink::{
    ConsoleSink, FanOut, JsonFileSink, KafkaSink, NullSink, PostgresSink, Sink, WebhookSink,
};
use crate::source::kafka;
use crate::source::{
    DatagenSource, HttpSource, KafkaInput, LineSource, LinesInput, ReadOutcome, Source, SourceStats,
};
use crate::state::{Checkpoint, CheckpointStore, SinkPosition, SourcePosition};

/// Opens the source, at `resume`'s position when a checkpoint is resumed.
pub(super) fn open_input(
    source: &SourceSpec,
    stats: &Arc<SourceStats>,
    resume: Option<&SourcePosition>,
) -> Result<Box<dyn Source>, RunError> {
    Ok(match source {
        SourceSpec::File {
            path,
            follow,
            max_line_bytes,
            csv,
        } => {
            let (offset, line) = match resume {
                Some(SourcePosition::Lines { byte_offset, line }) => (*byte_offset, *line),
                _ => (0, 0),
            };
            let source = if *follow {
                LineSource::follow(path, *max_line_bytes, offset, line)
            } else {
                LineSource::open_at(path, *max_line_bytes, offset, line)
            };
            Box::new(LinesInput {
                lines: source.map_err(|error| RunError::OpenSource {
                    path: path.display().to_string(),
                    error,
                })?,
                quoted: csv.is_some(),
            })
        }
        SourceSpec::Stdin {
            max_line_bytes,
            csv,
        } => Box::new(LinesInput {
            lines: LineSource::stdin(*max_line_bytes),
            quoted: csv.is_some(),
        }),
        SourceSpec::Http(settings) => Box::new(HttpSource::bind(settings.clone()).map_err(
            |error| RunError::OpenSource {
                path: format!("http://{}{}", settings.listen, settings.path),
                error,
            },
        )?),
        SourceSpec::Datagen(settings) => Box::new(DatagenSource {
            settings: settings.clone(),
        }),
        SourceSpec::Kafka(settings) => {
            let mut settings = settings.clone();
            if let Some(SourcePosition::Kafka(offsets)) = resume {
                settings.resume_from = offsets
                    .iter()
                    .map(|o| (o.topic.clone(), o.partition, o.next_offset))
                    .collect();
            }
            Box::new(KafkaInput {
                consumer: kafka::connect(&settings, stats.clone()).map_err(RunError::Kafka)?,
                settings,
            })
        }
    })
}

/// How the source's records are decoded. A CSV header is read here, before
/// any record: from the input when it starts at the top, else from the
/// file's first line.
pub(super) fn decoding_for(
    source: &SourceSpec,
    input: &mut dyn Source,
    schema: &Schema,
) -> Result<Decoding, RunError> {
    let (csv, path) = match source {
        SourceSpec::File { csv, path, .. } => (csv, Some(path)),
        SourceSpec::Stdin { csv, .. } => (csv, None),
        SourceSpec::Kafka(settings) => {
            return Ok(settings.avro.clone().map_or(Decoding::Json, Decoding::Avro))
        }
        SourceSpec::Http(_) | SourceSpec::Datagen(_) => return Ok(Decoding::Json),
    };
    let Some(csv) = csv else {
        return Ok(Decoding::Json);
    };
    if !csv.header {
        let layout = CsvLayout::declared(csv.columns.as_deref(), csv.delimiter, schema);
        return Ok(Decoding::Csv(Arc::new(
            layout.expect("checked when loaded"),
        )));
    }
    let Some(lines) = input.lines_mut() else {
        unreachable!("file and stdin sources read lines");
    };
    let name = lines.name().to_string();
    let unusable = |reason: String| RunError::OpenSource {
        path: name.clone(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
    };
    let mut header = Vec::new();
    match (lines.resume_position(), path) {
        (Some((offset, _)), Some(path)) if offset > 0 => {
            let file = std::fs::File::open(path).map_err(|e| unusable(e.to_string()))?;
            std::io::BufRead::read_until(&mut std::io::BufReader::new(file), b'\n', &mut header)
                .map_err(|e| unusable(e.to_string()))?;
        }
        _ => {
            let outcome = lines
                .read_line(&mut header)
                .map_err(|e| unusable(e.to_string()))?;
            if outcome != ReadOutcome::Line {
                return Err(unusable("no CSV header line: the input is empty (set header = false and columns if it has none)".into()));
            }
        }
    }
    let header = header.strip_suffix(b"\n").unwrap_or(&header);
    let header = header.strip_suffix(b"\r").unwrap_or(header);
    CsvLayout::from_header(header, csv.delimiter, schema, &name)
        .map(|layout| Decoding::Csv(Arc::new(layout)))
        .map_err(unusable)
}

/// Opens the sink; with checkpoints, a file sink stages its results and
/// `resume` says how much of its output the resumed checkpoint covers.
/// Every sink of the pipeline on one [`FanOut`], each resumed at its
/// position in `resume`; the taps that feed them; their names joined.
pub(super) fn open_sinks(
    pipeline: &Pipeline,
    checkpoints: bool,
    resume: Option<SinkPosition>,
) -> Result<(FanOut, Taps, String), RunError> {
    let (taps, per_sink) = Taps::of(&pipeline.sinks);
    let positions = FanOut::positions(resume, pipeline.sinks.len());
    let mut fan_out = FanOut::new();
    let mut names = Vec::new();
    for ((route, tap), position) in pipeline.sinks.iter().zip(per_sink).zip(positions) {
        let results = match &route.from {
            Some(stage) => pipeline.stages.iter().find(|s| s.name == *stage),
            None => pipeline.stages.last(),
        }
        .map_or(&pipeline.schema, |stage| stage.output_schema());
        let (sink, name) = open_sink(&route.spec, results, checkpoints, position)?;
        fan_out.add(tap, name.clone(), sink);
        names.push(name);
    }
    Ok((fan_out, taps, names.join(" + ")))
}

fn open_sink(
    sink: &SinkSpec,
    results: &Schema,
    checkpoints: bool,
    resume: Option<SinkPosition>,
) -> Result<(Box<dyn Sink>, String), RunError> {
    Ok(match sink {
        SinkSpec::Console => (Box::new(ConsoleSink::new()), "console".into()),
        SinkSpec::File { path, avro } => {
            let sink = if checkpoints {
                JsonFileSink::staged(path, resume)
            } else {
                JsonFileSink::create(path)
            };
            let sink = match avro {
                Some(schema) => sink.and_then(|sink| sink.writing_avro(schema.clone())),
                None => sink,
            };
            let sink = sink.map_err(|error| RunError::OpenSink {
                path: path.display().to_string(),
                error,
            })?;
            (Box::new(sink), path.display().to_string())
        }
        SinkSpec::Kafka(settings) => (
            Box::new(KafkaSink::connect(settings.clone()).map_err(RunError::Kafka)?),
            format!("kafka:{}", settings.topic),
        ),
        SinkSpec::Webhook(settings) => (
            Box::new(WebhookSink::new(settings.clone())),
            crate::redact::endpoint(&settings.url),
        ),
        SinkSpec::Postgres(settings) => (
            Box::new(
                PostgresSink::connect(settings.clone(), results).map_err(|error| {
                    RunError::OpenSink {
                        path: format!("postgres table {}", settings.table),
                        error,
                    }
                })?,
            ),
            format!("postgres:{}", settings.table),
        ),
        SinkSpec::Null { digest } => (
            Box::new(NullSink {
                rows: 0,
                digest: *digest,
            }),
            "null".into(),
        ),
    })
}

/// The checkpoint store, and the checkpoint to resume from (its stage state
/// already restored), as the pipeline's settings say.
pub(super) fn open_checkpoints(
    pipeline: &mut Pipeline,
) -> Result<(Option<CheckpointStore>, Option<Checkpoint>), RunError> {
    let Some(settings) = &pipeline.checkpoint else {
        return Ok((None, None));
    };
    let store = CheckpointStore::open(settings.clone())?;
    if pipeline.resume == Resume::Fresh {
        store.clear()?;
        return Ok((Some(store), None));
    }
    let Some(checkpoint) = store.latest()? else {
        return Ok((Some(store), None));
    };
    let store = Some(store);
    if checkpoint.pipeline != pipeline.name {
        let reason = format!(
            "it belongs to pipeline `{}`, not `{}`",
            checkpoint.pipeline, pipeline.name
        );
        return Err(resume_error(&checkpoint, &store, reason));
    }
    checkpointing::restore_stages(&checkpoint, &mut pipeline.stages)
        .map_err(|reason| resume_error(&checkpoint, &store, reason))?;
    tracing::info!("{}", checkpointing::describe(&checkpoint));
    Ok((store, Some(checkpoint)))
}

pub(super) fn resume_error(
    checkpoint: &Checkpoint,
    store: &Option<CheckpointStore>,
    reason: String,
) -> RunError {
    RunError::Resume {
        id: checkpoint.id,
        dir: store
            .as_ref()
            .map_or_else(String::new, |s| s.settings().location.describe()),
        reason,
    }
}
