//! The pipeline as a dataflow graph — sources, operators, sinks and the
//! edges between them with their partitioning — for `weir explain` (text,
//! Graphviz dot, Mermaid).
//!
//! The graph is a tree rooted at the source: a line unless an operator's
//! `from` starts a branch (several `INSERT`s of one script). With `parallelism` above 1 the operators run
//! as several instances: the edge into them is `hash` (by the key the
//! stages hold state by) or `rebalance` (contiguous slices, when no stage
//! holds state), the edges between them `forward` (each instance to its own
//! next stage), and the edge out of them `merge`.

use std::fmt::Write;

use super::build::Pipeline;
use super::parallel::Parallelism;

/// How rows cross an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// Each row to the one next instance, in order.
    Forward,
    /// Each row to the instance that owns its key's key group.
    Hash,
    /// Each instance a contiguous slice of every batch.
    Rebalance,
    /// Every instance's rows to the one next node, batch by batch in
    /// instance order.
    Merge,
}

impl std::fmt::Display for Partitioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forward => "forward",
            Self::Hash => "hash",
            Self::Rebalance => "rebalance",
            Self::Merge => "merge",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    /// Event time extracted, order restored, watermarks stamped.
    Watermarks,
    Operator,
    Sink,
    DeadLetters,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub role: Role,
    /// What it is: `file data/x.ndjson (json)`, `window tumbling 10s …`.
    pub label: String,
    /// The rows it emits.
    pub output: String,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub partitioning: Partitioning,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub pipeline: String,
    pub parallelism: Parallelism,
    /// How often checkpoints are taken and where they go, if they are.
    pub checkpoints: Option<String>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Plan {
    pub fn of(pipeline: &Pipeline) -> Self {
        let parallelism = super::parallel::choose(
            pipeline.parallelism,
            &pipeline.stages,
            &pipeline.schema,
            pipeline.control.is_some(),
        );
        let (into, out) = match (parallelism.instances, &parallelism.key) {
            (1, _) => (Partitioning::Forward, Partitioning::Forward),
            (_, Some(_)) => (Partitioning::Hash, Partitioning::Merge),
            (_, None) => (Partitioning::Rebalance, Partitioning::Merge),
        };
        let mut plan = Plan {
            pipeline: pipeline.name.clone(),
            parallelism,
            checkpoints: pipeline.checkpoint.as_ref().map(|c| {
                format!(
                    "every {} to {} (newest {} kept)",
                    humantime::format_duration(c.interval),
                    c.location.describe(),
                    c.keep
                )
            }),
            nodes: Vec::new(),
            edges: Vec::new(),
        };
        let source = plan.add(Node {
            name: "source".into(),
            role: Role::Source,
            label: pipeline.source.describe(),
            output: pipeline.schema.to_string(),
        });
        let time_field = &pipeline.schema.fields()[pipeline.time_column].name;
        let mut last = plan.add(Node {
            name: "watermarks".into(),
            role: Role::Watermarks,
            label: format!(
                "event time `{time_field}`, watermark = newest − {}",
                humantime::format_duration(std::time::Duration::from_millis(
                    pipeline.max_out_of_orderness_ms.max(0) as u64
                ))
            ),
            output: pipeline.schema.to_string(),
        });
        plan.connect(source, last, Partitioning::Forward);
        let watermarks = last;
        let mut stage_nodes = Vec::new();
        for (i, stage) in pipeline.stages.iter().enumerate() {
            let node = plan.add(Node {
                name: stage.name.clone(),
                role: Role::Operator,
                label: stage.operator.describe(),
                output: stage.output_schema().to_string(),
            });
            let from = stage
                .from
                .producer(&pipeline.stages[..i])
                .map_or(watermarks, |p| stage_nodes[p]);
            let partitioning = match from == watermarks {
                true => into,
                false => Partitioning::Forward,
            };
            plan.connect(from, node, partitioning);
            stage_nodes.push(node);
            last = node;
        }
        let out = if pipeline.stages.is_empty() {
            Partitioning::Forward
        } else {
            out
        };
        for (i, route) in pipeline.sinks.iter().enumerate() {
            let sink = plan.add(Node {
                name: match pipeline.sinks.len() {
                    1 => "sink".into(),
                    _ => format!("sink-{}", i + 1),
                },
                role: Role::Sink,
                label: route.spec.describe(),
                output: String::new(),
            });
            let from = route
                .from
                .as_deref()
                .and_then(|stage| pipeline.stages.iter().position(|s| s.name == stage))
                .map(|i| stage_nodes[i])
                .unwrap_or(last);
            plan.connect(from, sink, out);
        }
        plan.add(Node {
            name: "dead-letters".into(),
            role: Role::DeadLetters,
            label: match &pipeline.dead_letter {
                Some(path) => format!("file {}", path.display()),
                None => "standard error".into(),
            },
            output: String::new(),
        });
        plan
    }

    fn add(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn connect(&mut self, from: usize, to: usize, partitioning: Partitioning) {
        self.edges.push(Edge {
            from,
            to,
            partitioning,
        });
    }

    /// Indented text: one node per line, each followed by where it sends rows.
    pub fn text(&self) -> String {
        let mut out = format!("pipeline {}\n", self.pipeline);
        let p = &self.parallelism;
        let _ = match (&p.key, &p.limited_by) {
            (_, Some(reason)) => writeln!(out, "  operators: 1 instance ({reason})"),
            (Some((key, _)), None) if p.instances > 1 => writeln!(
                out,
                "  operators: {} instances, rows divided by the key group of `{key}` ({} groups)",
                p.instances,
                crate::data::KEY_GROUPS
            ),
            (None, None) if p.instances > 1 => writeln!(
                out,
                "  operators: {} instances, each a contiguous slice of every batch",
                p.instances
            ),
            _ => writeln!(out, "  operators: 1 instance"),
        };
        if let Some(checkpoints) = &self.checkpoints {
            let _ = writeln!(out, "  checkpoints: {checkpoints}");
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  [{}] {} — {}",
                role_name(node.role),
                node.name,
                node.label
            );
            if !node.output.is_empty() {
                let _ = writeln!(out, "        emits {}", node.output);
            }
            for edge in self.edges.iter().filter(|e| e.from == i) {
                let _ = writeln!(
                    out,
                    "        → {} ({})",
                    self.nodes[edge.to].name, edge.partitioning
                );
            }
        }
        let _ = writeln!(
            out,
            "  rows no operator can process, late rows and undeliverable results go to the dead letters"
        );
        out
    }

    /// Graphviz: `weir explain FILE --format dot | dot -Tsvg > plan.svg`.
    pub fn dot(&self) -> String {
        let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n", escape(&self.pipeline));
        for (i, node) in self.nodes.iter().enumerate() {
            let shape = match node.role {
                Role::Source => "invhouse",
                Role::Sink | Role::DeadLetters => "house",
                Role::Watermarks | Role::Operator => "box",
            };
            let _ = writeln!(
                out,
                "  n{i} [shape={shape}, label=\"{}\\n{}\"];",
                escape(&node.name),
                escape(&node.label)
            );
        }
        for edge in &self.edges {
            let _ = writeln!(
                out,
                "  n{} -> n{} [label=\"{}\"];",
                edge.from, edge.to, edge.partitioning
            );
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid, for Markdown that renders it (GitHub, mdBook with a plugin).
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for (i, node) in self.nodes.iter().enumerate() {
            let text = format!("{}<br/>{}", node.name, node.label).replace('"', "#quot;");
            let _ = match node.role {
                Role::Source => writeln!(out, "  n{i}[/\"{text}\"/]"),
                Role::Sink | Role::DeadLetters => writeln!(out, "  n{i}[(\"{text}\")]"),
                Role::Watermarks | Role::Operator => writeln!(out, "  n{i}[\"{text}\"]"),
            };
        }
        for edge in &self.edges {
            let _ = writeln!(
                out,
                "  n{} -->|{}| n{}",
                edge.from, edge.partitioning, edge.to
            );
        }
        out
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Source => "source",
        Role::Watermarks => "time",
        Role::Operator => "operator",
        Role::Sink => "sink",
        Role::DeadLetters => "dead letters",
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
