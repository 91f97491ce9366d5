//! Expressions, by precedence climbing (bpftrace `docs/language_parsing.md`, low to high):
//! `?:`, `||`, `&&`, `|`, `^`, `&`, `== !=`, `< > <= >=`, `<< >>`, `+ -`, `* / %`, unary,
//! postfix.

use super::{describe, Parser};
use crate::{
    ast::{BinOp, Expr, ExprKind, TypeName, UnOp},
    lexer::{Lexer, TokenKind},
    Diagnostic, Span,
};

/// Binary operator levels, lowest first.
const LEVELS: &[&[(&str, BinOp)]] = &[
    &[("||", BinOp::Or)],
    &[("&&", BinOp::And)],
    &[("|", BinOp::BitOr)],
    &[("^", BinOp::BitXor)],
    &[("&", BinOp::BitAnd)],
    &[("==", BinOp::Eq), ("!=", BinOp::Ne)],
    &[("<", BinOp::Lt), (">", BinOp::Gt), ("<=", BinOp::Le), (">=", BinOp::Ge)],
    &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
    &[("+", BinOp::Add), ("-", BinOp::Sub)],
    &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)],
];

impl Parser<'_, '_> {
    /// Parses an expression (the ternary level).
    pub(crate) fn parse_expr(&mut self) -> Expr {
        let cond = self.binary(0);
        if !self.at("?") {
            return cond;
        }
        self.bump();
        let then = if self.at(":") { cond.clone() } else { self.parse_expr() };
        self.expect(":");
        let els = self.parse_expr();
        let span = cond.span.to(els.span);
        self.expr_node(
            ExprKind::Ternary { cond: Box::new(cond), then: Box::new(then), els: Box::new(els) },
            span,
        )
    }

    fn binary(&mut self, level: usize) -> Expr {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1);
        'outer: loop {
            for (punct, op) in LEVELS[level] {
                if self.at(punct) && !self.closes_predicate() {
                    self.bump();
                    let rhs = self.binary(level + 1);
                    let span = lhs.span.to(rhs.span);
                    lhs = self.expr_node(
                        ExprKind::Binary { op: *op, lhs: Box::new(lhs), rhs: Box::new(rhs) },
                        span,
                    );
                    continue 'outer;
                }
            }
            return lhs;
        }
    }

    /// A `/` followed by `{` closes a predicate (`/pid == 1/ {`) rather than dividing.
    fn closes_predicate(&mut self) -> bool {
        if !self.at("/") {
            return false;
        }
        let after = self.peek().span.end as usize;
        let mut probe_lexer = Lexer::new(self.text);
        probe_lexer.reset(after);
        matches!(probe_lexer.next_token(), Ok(t) if t.kind == TokenKind::Punct("{") || t.kind == TokenKind::Eof)
    }

    fn unary(&mut self) -> Expr {
        let start = self.peek().span;
        let op = match &self.peek().kind {
            TokenKind::Punct("!") => Some(UnOp::Not),
            TokenKind::Punct("~") => Some(UnOp::BitNot),
            TokenKind::Punct("-") => Some(UnOp::Neg),
            TokenKind::Punct("*") => Some(UnOp::Deref),
            TokenKind::Punct("&") => Some(UnOp::AddrOf),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let expr = self.unary();
            let span = start.to(expr.span);
            return self.expr_node(ExprKind::Unary { op, expr: Box::new(expr) }, span);
        }
        if self.at("++") || self.at("--") {
            let increment = self.bump().kind == TokenKind::Punct("++");
            let target = self.unary();
            let span = start.to(target.span);
            return self.expr_node(
                ExprKind::IncDec { target: Box::new(target), increment, prefix: true },
                span,
            );
        }
        if self.at("(") {
            if let Some(ty) = self.try_cast_type() {
                let expr = self.unary();
                let span = start.to(expr.span);
                return self.expr_node(ExprKind::Cast { ty, expr: Box::new(expr) }, span);
            }
        }
        if self.at("{") {
            let block = self.block_expr();
            return self.postfix(block);
        }
        let primary = self.primary();
        self.postfix(primary)
    }

    /// Recognises `(type)` at a `(`: `(uint32)`, `(struct sock *)`, `(unsigned long)`.
    fn try_cast_type(&mut self) -> Option<TypeName> {
        let open = self.peek().span;
        if self.typeof_at(open.end as usize) {
            self.bump(); // (
            let ty = self.type_name();
            self.expect(")");
            return ty;
        }
        let (ty, end) = self.scan_type(open.end as usize, false)?;
        let close = self.punct_after(end, ")")?;
        self.bump();
        self.lexer.reset(close);
        Some(ty)
    }

    /// True when `typeof (` starts at byte `at` (a cast to `typeof(expr)`).
    fn typeof_at(&self, at: usize) -> bool {
        let mut look = Lexer::new(self.text);
        look.reset(at);
        let Ok(TokenKind::Ident(word)) = look.next_token().map(|t| t.kind) else { return false };
        word == "typeof" && self.punct_after(look.pos(), "(").is_some()
    }

    /// `sizeof(TYPE)` or `sizeof(expr)`, after the name.
    fn sizeof(&mut self, start: Span) -> Expr {
        let open = self.bump().span;
        if let Some((ty, end)) = self.scan_type(open.end as usize, false) {
            if let Some(close) = self.punct_after(end, ")") {
                self.lexer.reset(close);
                let span = start.to(Span::new(close - 1, close));
                return self.expr_node(ExprKind::SizeofType(ty), span);
            }
        }
        let expr = self.parse_expr();
        let end = self.peek().span;
        self.expect(")");
        self.expr_node(ExprKind::SizeofExpr(Box::new(expr)), start.to(end))
    }

    /// `offsetof(TYPE, a.b.c)`, after the name.
    fn offsetof(&mut self, start: Span) -> Expr {
        self.bump(); // (
        let Some(ty) = self.eat_type(true) else {
            let token = self.bump();
            self.error(Diagnostic::error("expected a type name", token.span, "not a type"));
            return self.error_expr(start.to(token.span));
        };
        self.expect(",");
        let mut path = Vec::new();
        loop {
            let token = self.bump();
            let TokenKind::Ident(name) = token.kind else {
                self.error(Diagnostic::error(
                    format!("expected a member name, found {}", describe(&token.kind)),
                    token.span,
                    "expected a member name",
                ));
                return self.error_expr(start.to(token.span));
            };
            path.push((name, token.span));
            if !self.eat(".") {
                break;
            }
        }
        let end = self.peek().span;
        self.expect(")");
        self.expr_node(ExprKind::Offsetof { ty, path }, start.to(end))
    }

    fn primary(&mut self) -> Expr {
        let token = self.bump();
        let span = token.span;
        match token.kind {
            TokenKind::Int(n) => self.expr_node(ExprKind::Int(n), span),
            TokenKind::Str(s) => self.expr_node(ExprKind::Str(s), span),
            TokenKind::Var(name) => self.expr_node(ExprKind::Var(name), span),
            TokenKind::Positional(n) => self.expr_node(ExprKind::Positional(n), span),
            TokenKind::PositionalCount => self.expr_node(ExprKind::PositionalCount, span),
            TokenKind::Map(name) => {
                let mut keys = Vec::new();
                let mut end = span;
                if self.at("[") {
                    self.bump();
                    loop {
                        keys.push(self.parse_expr());
                        if !self.eat(",") {
                            break;
                        }
                    }
                    end = self.peek().span;
                    self.expect("]");
                }
                self.expr_node(ExprKind::Map { name, keys }, span.to(end))
            }
            TokenKind::Ident(name) if name == "true" || name == "false" => {
                self.expr_node(ExprKind::Bool(name == "true"), span)
            }
            TokenKind::Ident(name) if name == "sizeof" && self.at("(") => self.sizeof(span),
            TokenKind::Ident(name) if name == "offsetof" && self.at("(") => self.offsetof(span),
            TokenKind::Ident(name) => {
                if self.at("(") {
                    self.bump();
                    let mut args = Vec::new();
                    while !self.at(")") && self.peek().kind != TokenKind::Eof {
                        args.push(self.parse_expr());
                        if !self.eat(",") {
                            break;
                        }
                    }
                    let end = self.peek().span;
                    self.expect(")");
                    self.expr_node(ExprKind::Call { name, name_span: span, args }, span.to(end))
                } else {
                    self.expr_node(ExprKind::Ident(name), span)
                }
            }
            TokenKind::Punct("(") => {
                if self.at_record_field() {
                    return self.record(span);
                }
                if self.at(")") {
                    let end = self.bump().span;
                    return self.expr_node(ExprKind::Tuple(vec![]), span.to(end));
                }
                let first = self.parse_expr();
                if self.at(",") {
                    let mut items = vec![first];
                    while self.eat(",") {
                        if self.at(")") {
                            break;
                        }
                        items.push(self.parse_expr());
                    }
                    let end = self.peek().span;
                    self.expect(")");
                    return self.expr_node(ExprKind::Tuple(items), span.to(end));
                }
                self.expect(")");
                first
            }
            other => {
                self.error(Diagnostic::error(
                    format!("expected an expression, found {}", describe(&other)),
                    span,
                    "expected an expression",
                ));
                self.error_expr(span)
            }
        }
    }

    /// At `name =` (not `==`): the first field of a record `(a = 1, b = "x")`.
    fn at_record_field(&mut self) -> bool {
        let token = self.peek().clone();
        matches!(token.kind, TokenKind::Ident(_))
            && self.punct_after(token.span.end as usize, "=").is_some()
    }

    /// The fields of a record after its `(`.
    fn record(&mut self, open: Span) -> Expr {
        let mut fields: Vec<(String, Span, Expr)> = Vec::new();
        loop {
            let token = self.bump();
            let TokenKind::Ident(name) = token.kind else {
                self.error(Diagnostic::error(
                    format!(
                        "expected a record field `name = value`, found {}",
                        describe(&token.kind)
                    ),
                    token.span,
                    "expected a field name",
                ));
                return self.error_expr(open.to(token.span));
            };
            self.expect("=");
            let value = self.parse_expr();
            if fields.iter().any(|(n, _, _)| *n == name) {
                self.error(Diagnostic::error(
                    format!("record field `{name}` is given twice"),
                    token.span,
                    "given again here",
                ));
            }
            fields.push((name, token.span, value));
            if !self.eat(",") || self.at(")") {
                break;
            }
        }
        let end = self.peek().span;
        self.expect(")");
        self.expr_node(ExprKind::Record(fields), open.to(end))
    }

    fn postfix(&mut self, mut expr: Expr) -> Expr {
        loop {
            if self.at(".") || self.at("->") {
                self.bump();
                let token = self.bump();
                let field = match token.kind {
                    TokenKind::Ident(f) => f,
                    TokenKind::Int(n) => n.to_string(),
                    other => {
                        self.error(Diagnostic::error(
                            format!("expected a field name, found {}", describe(&other)),
                            token.span,
                            "expected a field name",
                        ));
                        return self.error_expr(token.span);
                    }
                };
                let span = expr.span.to(token.span);
                expr = self.expr_node(
                    ExprKind::Field { base: Box::new(expr), field, field_span: token.span },
                    span,
                );
            } else if self.at("[") {
                self.bump();
                let index = self.parse_expr();
                let end = self.peek().span;
                self.expect("]");
                let span = expr.span.to(end);
                expr = self.expr_node(
                    ExprKind::Index { base: Box::new(expr), index: Box::new(index) },
                    span,
                );
            } else if self.at("++") || self.at("--") {
                let token = self.bump();
                let span = expr.span.to(token.span);
                let increment = token.kind == TokenKind::Punct("++");
                expr = self.expr_node(
                    ExprKind::IncDec { target: Box::new(expr), increment, prefix: false },
                    span,
                );
            } else {
                return expr;
            }
        }
    }
}
