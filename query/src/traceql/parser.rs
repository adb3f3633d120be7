//! A recursive-descent TraceQL parser. Precedence, loosest first:
//! `|` (pipeline) < spanset `||` < spanset `&&` < structural `> >> < << ~` < `{…}` / `( … )`;
//! inside braces: `||` < `&&` < comparison. Literal types are checked against
//! the intrinsic they are compared with, so `duration > "x"` fails here, with a position.

use super::ast::*;
use super::error::ParseError;
use super::lexer::{tokenize, Tok, Token};

/// Deepest nesting of parentheses and braces: a query is text from the network.
const MAX_DEPTH: usize = 64;

pub fn parse(text: &str) -> Result<Pipeline, ParseError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, next: 0, depth: 0 };
    let pipeline = parser.pipeline()?;
    parser.expect(&Tok::End, "`|`, `&&`, `||`, a structural operator or the end of the query")?;
    Ok(pipeline)
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        static END: Token = Token { tok: Tok::End, pos: 0 };
        self.tokens.get(self.next).or(self.tokens.last()).unwrap_or(&END)
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if self.next < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.bump();
            return true;
        }
        false
    }

    fn error(&self, expected: &str) -> ParseError {
        let token = self.peek();
        ParseError::new(token.pos, expected).found(token.tok.describe())
    }

    fn expect(&mut self, tok: &Tok, expected: &str) -> Result<(), ParseError> {
        if self.eat(tok) {
            return Ok(());
        }
        Err(self.error(expected))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(self.peek().pos, format!("at most {MAX_DEPTH} levels of nesting")));
        }
        Ok(())
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let source = self.spanset_or()?;
        let mut stages = Vec::new();
        while self.eat(&Tok::Pipe) {
            stages.push(self.stage()?);
        }
        Ok(Pipeline { source, stages })
    }

    fn spanset_or(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_and()?;
        while self.eat(&Tok::Or) {
            lhs = SpansetExpr::Or(Box::new(lhs), Box::new(self.spanset_and()?));
        }
        Ok(lhs)
    }

    fn spanset_and(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.structural()?;
        while self.eat(&Tok::And) {
            lhs = SpansetExpr::And(Box::new(lhs), Box::new(self.structural()?));
        }
        Ok(lhs)
    }

    fn structural(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_atom()?;
        loop {
            let op = match self.peek().tok {
                Tok::Gt => Structural::Child,
                Tok::Descendant => Structural::Descendant,
                Tok::Lt => Structural::Parent,
                Tok::Ancestor => Structural::Ancestor,
                Tok::Tilde => Structural::Sibling,
                _ => return Ok(lhs),
            };
            self.bump();
            lhs = SpansetExpr::Structural(op, Box::new(lhs), Box::new(self.spanset_atom()?));
        }
    }

    fn spanset_atom(&mut self) -> Result<SpansetExpr, ParseError> {
        match self.peek().tok {
            Tok::LBrace => Ok(SpansetExpr::Filter(self.braced()?)),
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.pipeline()?;
                self.depth -= 1;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(match inner.stages.is_empty() {
                    true => inner.source,
                    false => SpansetExpr::Nested(Box::new(inner)),
                })
            }
            _ => Err(self.error("a spanset `{ ... }` or `(`")),
        }
    }

    /// `{ }` or `{ condition }`.
    fn braced(&mut self) -> Result<Condition, ParseError> {
        self.expect(&Tok::LBrace, "`{`")?;
        if self.eat(&Tok::RBrace) {
            return Ok(Condition::All);
        }
        self.enter()?;
        let condition = self.condition_or()?;
        self.depth -= 1;
        self.expect(&Tok::RBrace, "`&&`, `||` or `}`")?;
        Ok(condition)
    }

    fn condition_or(&mut self) -> Result<Condition, ParseError> {
        let mut lhs = self.condition_and()?;
        while self.eat(&Tok::Or) {
            lhs = Condition::Or(Box::new(lhs), Box::new(self.condition_and()?));
        }
        Ok(lhs)
    }

    fn condition_and(&mut self) -> Result<Condition, ParseError> {
        let mut lhs = self.condition_atom()?;
        while self.eat(&Tok::And) {
            lhs = Condition::And(Box::new(lhs), Box::new(self.condition_atom()?));
        }
        Ok(lhs)
    }

    fn condition_atom(&mut self) -> Result<Condition, ParseError> {
        if self.eat(&Tok::LParen) {
            self.enter()?;
            let inner = self.condition_or()?;
            self.depth -= 1;
            self.expect(&Tok::RParen, "`&&`, `||` or `)`")?;
            return Ok(inner);
        }
        let pos = self.peek().pos;
        let lhs = self.operand()?;
        let op_token = self.peek().clone();
        let op = match op_token.tok {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Re => CmpOp::Re,
            Tok::NotRe => CmpOp::NotRe,
            _ => {
                return match lhs {
                    Operand::Literal(Literal::Bool(true)) => Ok(Condition::All),
                    _ => Err(self.error("a comparison operator (= != > >= < <= =~ !~)")),
                }
            }
        };
        self.bump();
        let rhs_pos = self.peek().pos;
        let rhs = self.operand()?;
        let (field, op, value, value_pos) = match (lhs, rhs) {
            (Operand::Field(f), Operand::Literal(v)) => (f, op, v, rhs_pos),
            (Operand::Literal(v), Operand::Field(f)) => match op.mirrored() {
                Some(op) => (f, op, v, pos),
                None => return Err(ParseError::new(op_token.pos, "a field on the left of a regex match")),
            },
            (Operand::Field(_), Operand::Field(_)) => {
                return Err(ParseError::new(rhs_pos, "a value (comparing two fields is not supported)"))
            }
            (Operand::Literal(_), Operand::Literal(_)) => {
                return Err(ParseError::new(pos, "an attribute or an intrinsic on one side of the comparison"))
            }
        };
        let value = check_types(&field, op, value, value_pos, op_token.pos)?;
        Ok(Condition::Compare { field, op, value, pos })
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        let token = self.peek().clone();
        let expected =
            "an attribute (span.x, resource.x, .x), an intrinsic (name, status, kind, duration, ...) or a value";
        let operand = match &token.tok {
            Tok::Str(s) => Operand::Literal(Literal::Str(s.clone())),
            Tok::Int(i) => Operand::Literal(Literal::Int(*i)),
            Tok::Float(f) => Operand::Literal(Literal::Float(*f)),
            Tok::Duration(d) => Operand::Literal(Literal::Duration(*d)),
            Tok::Word(w) => word(w).ok_or_else(|| ParseError::new(token.pos, expected).found(token.tok.describe()))?,
            _ => return Err(self.error(expected)),
        };
        self.bump();
        Ok(operand)
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let token = self.peek().clone();
        let name = match &token.tok {
            Tok::LBrace => return Ok(Stage::Filter(self.braced()?)),
            Tok::Word(w) => w.clone(),
            _ => return Err(self.error("a pipeline stage (count(), avg(duration), select(...), { ... })")),
        };
        self.bump();
        let func = match name.as_str() {
            "count" => Aggregate::Count,
            "avg" => Aggregate::Avg,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            "sum" => Aggregate::Sum,
            "select" => return self.select(),
            _ => {
                return Err(
                    ParseError::new(token.pos, "count, avg, min, max, sum, select or `{`").found(token.tok.describe())
                )
            }
        };
        self.expect(&Tok::LParen, "`(`")?;
        if func != Aggregate::Count {
            let arg = self.peek().clone();
            match &arg.tok {
                Tok::Word(w) if Intrinsic::from_name(w) == Some(Intrinsic::Duration) => {
                    self.bump();
                }
                _ => {
                    return Err(
                        ParseError::new(arg.pos, "`duration` (the only aggregated field)").found(arg.tok.describe())
                    )
                }
            }
        }
        self.expect(&Tok::RParen, "`)`")?;
        let op_token = self.bump();
        let op = match op_token.tok {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            _ => {
                return Err(ParseError::new(op_token.pos, "a comparison operator (= != > >= < <=)")
                    .found(op_token.tok.describe()))
            }
        };
        let value_token = self.bump();
        let value = match (func, &value_token.tok) {
            (Aggregate::Count, Tok::Int(i)) => Literal::Int(*i),
            (Aggregate::Count, Tok::Float(f)) => Literal::Float(*f),
            (Aggregate::Count, _) => {
                return Err(ParseError::new(value_token.pos, "a number").found(value_token.tok.describe()))
            }
            (_, Tok::Duration(d)) => Literal::Duration(*d),
            (_, _) => {
                return Err(ParseError::new(value_token.pos, "a duration like 100ms").found(value_token.tok.describe()))
            }
        };
        Ok(Stage::Aggregate { func, op, value, pos: token.pos })
    }

    fn select(&mut self) -> Result<Stage, ParseError> {
        self.expect(&Tok::LParen, "`(`")?;
        let mut fields = Vec::new();
        loop {
            let token = self.peek().clone();
            match self.operand()? {
                Operand::Field(f) => fields.push(f),
                Operand::Literal(_) => {
                    return Err(ParseError::new(token.pos, "an attribute or an intrinsic").found(token.tok.describe()))
                }
            }
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        self.expect(&Tok::RParen, "`,` or `)`")?;
        Ok(Stage::Select(fields))
    }
}

enum Operand {
    Field(Field),
    Literal(Literal),
}

/// A word as a field or a keyword value.
fn word(w: &str) -> Option<Operand> {
    let attribute = |scope: Scope, name: &str| {
        (!name.is_empty()).then(|| Operand::Field(Field::Attribute(scope, name.to_string())))
    };
    if let Some(name) = w.strip_prefix("span.") {
        return attribute(Scope::Span, name);
    }
    if let Some(name) = w.strip_prefix("resource.") {
        return attribute(Scope::Resource, name);
    }
    if let Some(name) = w.strip_prefix('.') {
        return attribute(Scope::Any, name);
    }
    if let Some(i) = Intrinsic::from_name(w) {
        return Some(Operand::Field(Field::Intrinsic(i)));
    }
    let literal = match w {
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        "nil" => Literal::Nil,
        "error" | "ok" | "unset" => Literal::Status(w.to_string()),
        "server" | "client" | "producer" | "consumer" | "internal" | "unspecified" => Literal::Kind(w.to_string()),
        _ => return None,
    };
    Some(Operand::Literal(literal))
}

/// The literal a field may be compared with, normalised (a status or kind
/// written as a string becomes the enum).
fn check_types(field: &Field, op: CmpOp, value: Literal, pos: usize, op_pos: usize) -> Result<Literal, ParseError> {
    let is_regex = matches!(op, CmpOp::Re | CmpOp::NotRe);
    let is_order = matches!(op, CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le);
    if is_regex && !matches!(value, Literal::Str(_)) {
        return Err(ParseError::new(pos, "a string (a regular expression) after `=~` / `!~`"));
    }
    if matches!(value, Literal::Nil) && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
        return Err(ParseError::new(op_pos, "`=` or `!=` with nil"));
    }
    if is_order && matches!(value, Literal::Bool(_) | Literal::Status(_) | Literal::Kind(_) | Literal::Nil) {
        return Err(ParseError::new(op_pos, "`=` or `!=` with a boolean, status or kind"));
    }
    let Field::Intrinsic(intrinsic) = field else {
        return Ok(value);
    };
    let mismatch =
        |want: &str| Err(ParseError::new(pos, format!("{want} to compare with `{}`", intrinsic.canonical())));
    match intrinsic {
        Intrinsic::Status => match value {
            Literal::Status(_) => Ok(value),
            Literal::Str(s) if matches!(s.as_str(), "error" | "ok" | "unset") => Ok(Literal::Status(s)),
            Literal::Str(_) if is_regex => Ok(value),
            _ => mismatch("a status (error, ok, unset)"),
        },
        Intrinsic::Kind => match value {
            Literal::Kind(_) => Ok(value),
            Literal::Str(s) if !is_regex => Ok(Literal::Kind(s)),
            Literal::Str(_) => Ok(value),
            _ => mismatch("a kind (server, client, producer, consumer, internal, unspecified)"),
        },
        Intrinsic::Duration | Intrinsic::TraceDuration => match value {
            Literal::Duration(_) => Ok(value),
            _ => mismatch("a duration like 100ms"),
        },
        Intrinsic::Name
        | Intrinsic::StatusMessage
        | Intrinsic::RootName
        | Intrinsic::RootServiceName
        | Intrinsic::EventName
        | Intrinsic::LinkTraceId => match value {
            Literal::Str(_) | Literal::Nil => Ok(value),
            _ => mismatch("a string"),
        },
    }
}
