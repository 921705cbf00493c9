//! From sqlparser's syntax tree to a checked [`Expr`]: names resolved to
//! columns, types checked and promoted, constants folded.

use sqlparser::ast::{
    self, BinaryOperator, CastKind, DataType, DateTimeField, FunctionArg, FunctionArgExpr,
    FunctionArguments, Spanned, TrimWhereField, UnaryOperator, Value,
};

use super::text::{LikePattern, TimePart, TrimSide};
use super::{offset_of, Arithmetic, Comparison, Expr, ExprError, Function, Node, Scalar};
use crate::data::{FieldType, Schema};
use crate::format::timestamp;

/// Checks expressions against one schema. `substitutions` stand for
/// columns: the SQL planner maps `COUNT(*)` or `TUMBLE_END(…)` to the
/// window result's columns that way.
pub struct Resolver<'a> {
    schema: &'a Schema,
    substitutions: Vec<(ast::Expr, String)>,
}

type Checked = Result<Expr, ExprError>;

impl<'a> Resolver<'a> {
    pub fn new(schema: &'a Schema) -> Self {
        Self {
            schema,
            substitutions: Vec::new(),
        }
    }

    /// Wherever `expr` appears (compared without positions), use `column`.
    pub fn substitute(&mut self, expr: ast::Expr, column: impl Into<String>) {
        self.substitutions.push((expr, column.into()));
    }

    /// `text` is the source the syntax tree's positions refer to.
    pub fn compile(&self, expr: &ast::Expr, text: &str) -> Checked {
        Compiler {
            resolver: self,
            text,
        }
        .expr(expr)
    }
}

struct Compiler<'r, 'a> {
    resolver: &'r Resolver<'a>,
    text: &'r str,
}

fn typed(node: Node, ty: FieldType) -> Expr {
    Expr { node, ty }
}

fn literal(value: Scalar) -> Expr {
    let ty = value.ty();
    typed(Node::Literal(value), ty)
}

fn is_numeric(ty: FieldType) -> bool {
    matches!(ty, FieldType::I64 | FieldType::F64)
}

impl Compiler<'_, '_> {
    fn error(&self, at: &impl Spanned, message: impl Into<String>) -> ExprError {
        ExprError {
            message: message.into(),
            offset: offset_of(self.text, at.span().start),
        }
    }

    fn expr(&self, expr: &ast::Expr) -> Checked {
        if let Some((_, column)) = self.resolver.substitutions.iter().find(|(e, _)| e == expr) {
            return self.column(column, expr);
        }
        match expr {
            ast::Expr::Identifier(ident) => self.column(&ident.value, expr),
            ast::Expr::CompoundIdentifier(parts) => {
                // `t.field`: one table per query, so the qualifier only names it.
                let last = parts.last().map_or("", |p| p.value.as_str());
                self.column(last, expr)
            }
            ast::Expr::Nested(inner) => self.expr(inner),
            ast::Expr::Value(value) => self.value(&value.value, expr),
            ast::Expr::TypedString(typed_string) => self.typed_string(typed_string, expr),
            ast::Expr::UnaryOp { op, expr: operand } => self.unary(*op, operand, expr),
            ast::Expr::BinaryOp { left, op, right } => self.binary(left, op, right, expr),
            ast::Expr::IsNull(inner) | ast::Expr::IsNotNull(inner) => {
                // Checked for its names; without NULLs the answer is known.
                self.expr(inner)?;
                Ok(literal(Scalar::Bool(matches!(
                    expr,
                    ast::Expr::IsNotNull(_)
                ))))
            }
            ast::Expr::IsTrue(inner) | ast::Expr::IsNotFalse(inner) => self.boolean(inner),
            ast::Expr::IsFalse(inner) | ast::Expr::IsNotTrue(inner) => {
                Ok(not(self.boolean(inner)?))
            }
            ast::Expr::Between {
                expr: value,
                negated,
                low,
                high,
            } => {
                let at_least = self.compare(Comparison::GtEq, value, low, expr)?;
                let at_most = self.compare(Comparison::LtEq, value, high, expr)?;
                let between = and(at_least, at_most);
                Ok(if *negated { not(between) } else { between })
            }
            ast::Expr::In {
                expr: value,
                target: ast::InTarget::List(list),
                negated,
                global: false,
            } => {
                let mut any: Option<Expr> = None;
                for item in list {
                    let equal = self.compare(Comparison::Eq, value, item, expr)?;
                    any = Some(match any {
                        None => equal,
                        Some(before) => or(before, equal),
                    });
                }
                let any = any.unwrap_or_else(|| literal(Scalar::Bool(false)));
                Ok(if *negated { not(any) } else { any })
            }
            ast::Expr::Like {
                negated,
                any: false,
                expr: value,
                pattern,
                escape_char: None,
            }
            | ast::Expr::ILike {
                negated,
                any: false,
                expr: value,
                pattern,
                escape_char: None,
            } => self.like(
                value,
                pattern,
                *negated,
                matches!(expr, ast::Expr::ILike { .. }),
            ),
            ast::Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref(), expr),
            ast::Expr::Cast {
                kind: CastKind::Cast | CastKind::DoubleColon,
                expr: value,
                data_type,
                format: None,
            } => {
                let to = field_type(data_type).map_err(|m| self.error(expr, m))?;
                self.cast(self.expr(value)?, to, expr)
            }
            ast::Expr::Function(function) => self.function(function, expr),
            ast::Expr::Substring {
                expr: value,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.string(value)?];
                let from = match substring_from {
                    Some(from) => self.integer(from)?,
                    None => literal(Scalar::I64(1)),
                };
                args.push(from);
                if let Some(length) = substring_for {
                    args.push(self.integer(length)?);
                }
                Ok(typed(
                    Node::Call(Function::Substring, args),
                    FieldType::String,
                ))
            }
            ast::Expr::Trim {
                expr: value,
                trim_where,
                trim_what: None,
                trim_characters: None,
            } => {
                let side = match trim_where {
                    None | Some(TrimWhereField::Both) => TrimSide::Both,
                    Some(TrimWhereField::Leading) => TrimSide::Leading,
                    Some(TrimWhereField::Trailing) => TrimSide::Trailing,
                };
                let value = self.string(value)?;
                Ok(typed(
                    Node::Call(Function::Trim(side), vec![value]),
                    FieldType::String,
                ))
            }
            ast::Expr::Extract {
                field, expr: value, ..
            } => {
                let part = time_part(field).ok_or_else(|| {
                    self.error(expr, format!("EXTRACT({field} …) is not supported; use YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, MILLISECOND, DOW, DOY or EPOCH"))
                })?;
                let value = self.expr(value)?;
                if value.ty != FieldType::Timestamp {
                    return Err(self.error(
                        expr,
                        format!("EXTRACT needs a timestamp, got a {}", value.ty),
                    ));
                }
                Ok(typed(
                    Node::Call(Function::Extract(part), vec![value]),
                    FieldType::I64,
                ))
            }
            ast::Expr::Floor { expr: value, .. } => self.rounding(Function::Floor, value),
            ast::Expr::Ceil { expr: value, .. } => self.rounding(Function::Ceil, value),
            ast::Expr::Interval(_) => Err(self.error(
                expr,
                "an INTERVAL can only be added to or subtracted from a timestamp",
            )),
            other => Err(self.error(
                other,
                format!("`{other}` is not supported in weir's expressions"),
            )),
        }
    }

    fn column(&self, name: &str, at: &ast::Expr) -> Checked {
        let schema = self.resolver.schema;
        match schema.index_of(name) {
            Some(index) => Ok(typed(Node::Column(index), schema.fields()[index].ty)),
            None => {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
                let near = names
                    .iter()
                    .map(|n| (strsim::levenshtein(n, name), n))
                    .filter(|(distance, _)| *distance <= 2)
                    .min()
                    .map(|(_, n)| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                Err(self.error(
                    at,
                    format!(
                        "no field `{name}`; the fields are: {}{near}",
                        names.join(", ")
                    ),
                ))
            }
        }
    }

    fn value(&self, value: &Value, at: &ast::Expr) -> Checked {
        match value {
            Value::Number(text, _) => number(text).map(literal).map_err(|m| self.error(at, m)),
            Value::SingleQuotedString(text) | Value::DoubleQuotedString(text) => {
                Ok(literal(Scalar::String(text.clone())))
            }
            Value::Boolean(b) => Ok(literal(Scalar::Bool(*b))),
            Value::Null => Err(self.error(
                at,
                "NULL is not supported yet: weir's fields always hold a value",
            )),
            other => Err(self.error(at, format!("the literal `{other}` is not supported"))),
        }
    }

    fn typed_string(&self, typed_string: &ast::TypedString, at: &ast::Expr) -> Checked {
        let text = match &typed_string.value.value {
            Value::SingleQuotedString(text) => text,
            other => return Err(self.error(at, format!("`{other}` is not a quoted string"))),
        };
        match field_type(&typed_string.data_type).map_err(|m| self.error(at, m))? {
            FieldType::Timestamp => timestamp::parse(text)
                .map(|t| literal(Scalar::Timestamp(t)))
                .ok_or_else(|| {
                    self.error(
                        at,
                        format!(
                            "`{text}` is not a timestamp; write e.g. '2023-12-31 23:59:58.890'"
                        ),
                    )
                }),
            other => self.cast(literal(Scalar::String(text.clone())), other, at),
        }
    }

    fn unary(&self, op: UnaryOperator, operand: &ast::Expr, at: &ast::Expr) -> Checked {
        match op {
            UnaryOperator::Not => Ok(not(self.boolean(operand)?)),
            UnaryOperator::Plus => self.numeric(operand),
            UnaryOperator::Minus => {
                let value = self.numeric(operand)?;
                Ok(match value.node {
                    Node::Literal(Scalar::I64(i)) if i != i64::MIN => literal(Scalar::I64(-i)),
                    Node::Literal(Scalar::F64(f)) => literal(Scalar::F64(-f)),
                    _ => {
                        let ty = value.ty;
                        typed(Node::Negate(Box::new(value)), ty)
                    }
                })
            }
            other => Err(self.error(at, format!("the operator `{other}` is not supported"))),
        }
    }

    fn binary(
        &self,
        left: &ast::Expr,
        op: &BinaryOperator,
        right: &ast::Expr,
        at: &ast::Expr,
    ) -> Checked {
        let arithmetic = match op {
            BinaryOperator::And => return Ok(and(self.boolean(left)?, self.boolean(right)?)),
            BinaryOperator::Or => return Ok(or(self.boolean(left)?, self.boolean(right)?)),
            BinaryOperator::Eq => return self.compare(Comparison::Eq, left, right, at),
            BinaryOperator::NotEq => return self.compare(Comparison::NotEq, left, right, at),
            BinaryOperator::Lt => return self.compare(Comparison::Lt, left, right, at),
            BinaryOperator::LtEq => return self.compare(Comparison::LtEq, left, right, at),
            BinaryOperator::Gt => return self.compare(Comparison::Gt, left, right, at),
            BinaryOperator::GtEq => return self.compare(Comparison::GtEq, left, right, at),
            BinaryOperator::StringConcat => {
                let args = vec![self.expr(left)?, self.expr(right)?];
                return Ok(typed(Node::Call(Function::Concat, args), FieldType::String));
            }
            BinaryOperator::Plus => Arithmetic::Add,
            BinaryOperator::Minus => Arithmetic::Subtract,
            BinaryOperator::Multiply => Arithmetic::Multiply,
            BinaryOperator::Divide => Arithmetic::Divide,
            BinaryOperator::Modulo => Arithmetic::Modulo,
            other => return Err(self.error(at, format!("the operator `{other}` is not supported"))),
        };
        if let ast::Expr::Interval(interval) = right {
            if matches!(arithmetic, Arithmetic::Add | Arithmetic::Subtract) {
                let time = self.expr(left)?;
                if time.ty != FieldType::Timestamp {
                    return Err(self.error(
                        at,
                        format!("an INTERVAL is added to a timestamp, not to a {}", time.ty),
                    ));
                }
                let ms = interval_ms(interval).map_err(|m| self.error(right, m))?;
                let shift = literal(Scalar::I64(ms));
                return Ok(typed(
                    Node::Arithmetic(arithmetic, Box::new(time), Box::new(shift)),
                    FieldType::Timestamp,
                ));
            }
        }
        let (left, right) = (self.numeric(left)?, self.numeric(right)?);
        let ty = if left.ty == FieldType::I64 && right.ty == FieldType::I64 {
            FieldType::I64
        } else {
            FieldType::F64
        };
        Ok(typed(
            Node::Arithmetic(
                arithmetic,
                Box::new(promote(left, ty)),
                Box::new(promote(right, ty)),
            ),
            ty,
        ))
    }

    fn compare(
        &self,
        comparison: Comparison,
        left: &ast::Expr,
        right: &ast::Expr,
        at: &ast::Expr,
    ) -> Checked {
        let (mut left, mut right) = (self.expr(left)?, self.expr(right)?);
        // A quoted timestamp compared with a timestamp is read as one.
        let (left_ty, right_ty) = (left.ty, right.ty);
        for (this, other) in [(&mut left, right_ty), (&mut right, left_ty)] {
            if other == FieldType::Timestamp {
                if let Node::Literal(Scalar::String(text)) = &this.node {
                    let t = timestamp::parse(text).ok_or_else(|| {
                        self.error(
                            at,
                            format!("`{text}` is compared with a timestamp but is not one"),
                        )
                    })?;
                    *this = literal(Scalar::Timestamp(t));
                }
            }
        }
        let ty = match (left.ty, right.ty) {
            (a, b) if a == b => a,
            (a, b) if is_numeric(a) && is_numeric(b) => FieldType::F64,
            (a, b) => {
                return Err(self.error(at, format!("cannot compare a {a} with a {b}")));
            }
        };
        Ok(typed(
            Node::Compare(
                comparison,
                Box::new(promote(left, ty)),
                Box::new(promote(right, ty)),
            ),
            FieldType::Bool,
        ))
    }

    fn like(&self, value: &ast::Expr, pattern: &ast::Expr, negated: bool, fold: bool) -> Checked {
        let value = self.string(value)?;
        let text = match pattern {
            ast::Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(text) => text,
                _ => return Err(self.error(pattern, "LIKE takes a quoted pattern")),
            },
            _ => return Err(self.error(pattern, "LIKE takes a quoted pattern, not an expression")),
        };
        let (value, pattern) = if fold {
            let lower = typed(Node::Call(Function::Lower, vec![value]), FieldType::String);
            (lower, LikePattern::new(&text.to_lowercase()))
        } else {
            (value, LikePattern::new(text))
        };
        Ok(typed(
            Node::Like {
                value: Box::new(value),
                pattern,
                negated,
            },
            FieldType::Bool,
        ))
    }

    fn case(
        &self,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        otherwise: Option<&ast::Expr>,
        at: &ast::Expr,
    ) -> Checked {
        let Some(otherwise) = otherwise else {
            return Err(self.error(at, "CASE needs an ELSE: weir's fields have no NULL yet"));
        };
        let mut branches = Vec::new();
        for when in conditions {
            let condition = match operand {
                Some(operand) => self.compare(Comparison::Eq, operand, &when.condition, at)?,
                None => self.boolean(&when.condition)?,
            };
            branches.push((condition, self.expr(&when.result)?));
        }
        let otherwise = self.expr(otherwise)?;
        let mut ty = otherwise.ty;
        for (_, result) in &branches {
            ty = match (ty, result.ty) {
                (a, b) if a == b => a,
                (a, b) if is_numeric(a) && is_numeric(b) => FieldType::F64,
                (a, b) => {
                    return Err(self.error(
                        at,
                        format!("CASE results must have one type; found a {a} and a {b}"),
                    ))
                }
            };
        }
        let branches = branches
            .into_iter()
            .map(|(condition, result)| (condition, promote(result, ty)))
            .collect();
        Ok(typed(
            Node::Case {
                branches,
                otherwise: Box::new(promote(otherwise, ty)),
            },
            ty,
        ))
    }

    fn cast(&self, value: Expr, to: FieldType, at: &ast::Expr) -> Checked {
        use FieldType::*;
        match (value.ty, to) {
            (from, to) if from == to => Ok(value),
            (Bool, F64 | I64 | Timestamp)
            | (F64 | Timestamp, Bool)
            | (Timestamp, F64)
            | (F64, Timestamp) => {
                Err(self.error(at, format!("cannot CAST a {} to {to}", value.ty)))
            }
            _ => Ok(typed(Node::Cast(Box::new(value)), to)),
        }
    }

    fn function(&self, function: &ast::Function, at: &ast::Expr) -> Checked {
        let name = function.name.to_string().to_ascii_uppercase();
        let args = match &function.args {
            FunctionArguments::List(list)
                if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
            {
                &list.args
            }
            FunctionArguments::None => &Vec::new(),
            _ => return Err(self.error(at, format!("`{at}` is not supported"))),
        };
        if function.filter.is_some() || function.over.is_some() || !function.within_group.is_empty()
        {
            return Err(self.error(at, format!("`{at}` is not supported here")));
        }
        if matches!(name.as_str(), "COUNT" | "SUM" | "AVG" | "MIN" | "MAX") {
            return Err(self.error(
                at,
                format!("the aggregate {name} belongs in a query with GROUP BY (or in a window's aggregates)"),
            ));
        }
        let args = args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                _ => Err(self.error(at, format!("{name} takes plain arguments"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(self.error(
                    at,
                    format!("{name} takes {n} argument(s), got {}", args.len()),
                ))
            }
        };
        let string_fn = |f: Function, ty: FieldType| -> Checked {
            arity(1)?;
            Ok(typed(Node::Call(f, vec![self.string(args[0])?]), ty))
        };
        match name.as_str() {
            "LOWER" => string_fn(Function::Lower, FieldType::String),
            "UPPER" => string_fn(Function::Upper, FieldType::String),
            "CHAR_LENGTH" | "CHARACTER_LENGTH" => string_fn(Function::CharLength, FieldType::I64),
            "TRIM" => string_fn(Function::Trim(TrimSide::Both), FieldType::String),
            "CONCAT" => {
                let args = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(typed(Node::Call(Function::Concat, args), FieldType::String))
            }
            "SUBSTRING" | "SUBSTR" => {
                if !(2..=3).contains(&args.len()) {
                    return Err(self.error(at, format!("{name} takes 2 or 3 arguments")));
                }
                let mut checked = vec![self.string(args[0])?];
                for arg in &args[1..] {
                    checked.push(self.integer(arg)?);
                }
                Ok(typed(
                    Node::Call(Function::Substring, checked),
                    FieldType::String,
                ))
            }
            "ABS" => {
                arity(1)?;
                let value = self.numeric(args[0])?;
                let ty = value.ty;
                Ok(typed(Node::Call(Function::Abs, vec![value]), ty))
            }
            "FLOOR" | "CEIL" | "CEILING" => {
                arity(1)?;
                let f = if name == "FLOOR" {
                    Function::Floor
                } else {
                    Function::Ceil
                };
                self.rounding(f, args[0])
            }
            "ROUND" => {
                arity(1)?;
                self.rounding(Function::Round, args[0])
            }
            "DATE_FORMAT" => {
                arity(2)?;
                let time = self.expr(args[0])?;
                if time.ty != FieldType::Timestamp {
                    return Err(self.error(
                        at,
                        format!("DATE_FORMAT needs a timestamp, got a {}", time.ty),
                    ));
                }
                let pattern = match &args[1] {
                    ast::Expr::Value(v) => match &v.value {
                        Value::SingleQuotedString(p) => p,
                        _ => return Err(self.error(args[1], "DATE_FORMAT takes a quoted pattern")),
                    },
                    _ => return Err(self.error(args[1], "DATE_FORMAT takes a quoted pattern")),
                };
                let strftime =
                    super::text::java_pattern(pattern).map_err(|m| self.error(args[1], m))?;
                Ok(typed(
                    Node::Call(
                        Function::DateFormat,
                        vec![time, literal(Scalar::String(strftime))],
                    ),
                    FieldType::String,
                ))
            }
            _ => Err(self.error(at, format!("unknown function {name}"))),
        }
    }

    fn rounding(&self, f: Function, value: &ast::Expr) -> Checked {
        let value = self.numeric(value)?;
        let ty = value.ty;
        Ok(typed(Node::Call(f, vec![value]), ty))
    }

    fn boolean(&self, expr: &ast::Expr) -> Checked {
        self.of_type(expr, "a boolean", |ty| ty == FieldType::Bool)
    }

    fn numeric(&self, expr: &ast::Expr) -> Checked {
        self.of_type(expr, "a number", is_numeric)
    }

    fn integer(&self, expr: &ast::Expr) -> Checked {
        self.of_type(expr, "an integer", |ty| ty == FieldType::I64)
    }

    fn string(&self, expr: &ast::Expr) -> Checked {
        self.of_type(expr, "a string", |ty| ty == FieldType::String)
    }

    fn of_type(&self, expr: &ast::Expr, what: &str, ok: impl Fn(FieldType) -> bool) -> Checked {
        let checked = self.expr(expr)?;
        if ok(checked.ty) {
            Ok(checked)
        } else {
            Err(self.error(
                expr,
                format!("`{expr}` is a {}, where {what} is needed", checked.ty),
            ))
        }
    }
}

fn not(value: Expr) -> Expr {
    match value.node {
        Node::Literal(Scalar::Bool(b)) => literal(Scalar::Bool(!b)),
        _ => typed(Node::Not(Box::new(value)), FieldType::Bool),
    }
}

fn and(left: Expr, right: Expr) -> Expr {
    typed(Node::And(Box::new(left), Box::new(right)), FieldType::Bool)
}

fn or(left: Expr, right: Expr) -> Expr {
    typed(Node::Or(Box::new(left), Box::new(right)), FieldType::Bool)
}

/// An integer used where a float is: literals converted now, columns as read.
fn promote(value: Expr, ty: FieldType) -> Expr {
    if value.ty == ty {
        return value;
    }
    match value.node {
        Node::Literal(Scalar::I64(i)) if ty == FieldType::F64 => literal(Scalar::F64(i as f64)),
        _ => typed(Node::Cast(Box::new(value)), ty),
    }
}

fn number(text: &str) -> Result<Scalar, String> {
    if text.contains(['.', 'e', 'E']) {
        text.parse()
            .map(Scalar::F64)
            .map_err(|_| format!("`{text}` is not a number"))
    } else {
        text.parse()
            .map(Scalar::I64)
            .map_err(|_| format!("`{text}` is outside the range of a 64-bit integer"))
    }
}

/// weir's type for a SQL type name.
pub fn field_type(data_type: &DataType) -> Result<FieldType, String> {
    Ok(match data_type {
        DataType::String(_)
        | DataType::Varchar(_)
        | DataType::Char(_)
        | DataType::CharVarying(_)
        | DataType::Character(_)
        | DataType::CharacterVarying(_)
        | DataType::Text => FieldType::String,
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float(_) | DataType::Real | DataType::Float64 => {
            FieldType::F64
        }
        DataType::BigInt(_)
        | DataType::Int(_)
        | DataType::Integer(_)
        | DataType::SmallInt(_)
        | DataType::TinyInt(_)
        | DataType::Int64 => FieldType::I64,
        DataType::Boolean | DataType::Bool => FieldType::Bool,
        DataType::Timestamp(_, _) | DataType::Datetime(_) => FieldType::Timestamp,
        DataType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("TIMESTAMP_LTZ") => {
            FieldType::Timestamp
        }
        other => {
            return Err(format!(
                "the type {other} is not supported; weir has STRING, DOUBLE, BIGINT (and INT), BOOLEAN and TIMESTAMP(3)"
            ))
        }
    })
}

/// An `INTERVAL '10' SECOND` (or `INTERVAL '10 seconds'`) in milliseconds.
pub fn interval_ms(interval: &ast::Interval) -> Result<i64, String> {
    let text = match interval.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::Number(s, _) => s.trim().to_string(),
            other => return Err(format!("`{other}` is not an interval amount")),
        },
        other => return Err(format!("`{other}` is not an interval amount")),
    };
    let (amount, unit) = match &interval.leading_field {
        Some(field) => (text.as_str(), unit_ms(field)?),
        None => {
            let d = humantime::parse_duration(&text)
                .map_err(|e| format!("`{text}` is not an interval ({e})"))?;
            return i64::try_from(d.as_millis())
                .map_err(|_| format!("the interval `{text}` is too long"));
        }
    };
    let ms = if let Ok(n) = amount.parse::<i64>() {
        n.checked_mul(unit)
    } else {
        amount
            .parse::<f64>()
            .ok()
            .map(|f| f * unit as f64)
            .filter(|ms| ms.is_finite() && ms.abs() < i64::MAX as f64)
            .map(|ms| ms.round() as i64)
    };
    match ms {
        Some(ms) if (0..=crate::time::range::DURATION_MAX_MS).contains(&ms) => Ok(ms),
        Some(ms) if ms < 0 => Err(format!("an interval cannot be negative ({amount})")),
        _ => Err(format!(
            "the interval `{amount}` is over the limit of 100 years"
        )),
    }
}

fn unit_ms(field: &DateTimeField) -> Result<i64, String> {
    Ok(match field {
        DateTimeField::Millisecond | DateTimeField::Milliseconds => 1,
        DateTimeField::Second | DateTimeField::Seconds => 1_000,
        DateTimeField::Minute | DateTimeField::Minutes => 60_000,
        DateTimeField::Hour | DateTimeField::Hours => 3_600_000,
        DateTimeField::Day | DateTimeField::Days => 86_400_000,
        other => {
            return Err(format!(
            "an interval in {other} is not supported; use MILLISECOND, SECOND, MINUTE, HOUR or DAY"
        ))
        }
    })
}

fn time_part(field: &DateTimeField) -> Option<TimePart> {
    Some(match field {
        DateTimeField::Year | DateTimeField::Years => TimePart::Year,
        DateTimeField::Month | DateTimeField::Months => TimePart::Month,
        DateTimeField::Day | DateTimeField::Days => TimePart::Day,
        DateTimeField::Hour | DateTimeField::Hours => TimePart::Hour,
        DateTimeField::Minute | DateTimeField::Minutes => TimePart::Minute,
        DateTimeField::Second | DateTimeField::Seconds => TimePart::Second,
        DateTimeField::Millisecond | DateTimeField::Milliseconds => TimePart::Millisecond,
        DateTimeField::Dow | DateTimeField::DayOfWeek => TimePart::DayOfWeek,
        DateTimeField::Doy | DateTimeField::DayOfYear => TimePart::DayOfYear,
        DateTimeField::Epoch => TimePart::Epoch,
        _ => return None,
    })
}
