//! Statements (bpftrace `docs/language.md` "Statements", "Control flow", "Variables").

use super::{describe, Parser};
use crate::{
    ast::{BinOp, Block, ExprKind, Stmt, StmtKind, TypeName},
    lexer::TokenKind,
    Diagnostic, Span,
};

/// Compound assignment operators and the binary operator each applies.
const COMPOUND: &[(&str, BinOp)] = &[
    ("+=", BinOp::Add),
    ("-=", BinOp::Sub),
    ("*=", BinOp::Mul),
    ("/=", BinOp::Div),
    ("%=", BinOp::Mod),
    ("&=", BinOp::BitAnd),
    ("|=", BinOp::BitOr),
    ("^=", BinOp::BitXor),
    ("<<=", BinOp::Shl),
    (">>=", BinOp::Shr),
];

impl Parser<'_, '_> {
    /// Parses one statement; the bool says whether a `;` must follow it.
    pub(super) fn stmt(&mut self) -> (Stmt, bool) {
        let start = self.peek().span;
        let word = match &self.peek().kind {
            TokenKind::Ident(w) => Some(w.clone()),
            _ => None,
        };
        let (kind, needs_semi) = match word.as_deref() {
            Some("if") => (self.if_stmt(), false),
            Some("unroll") => {
                self.bump();
                self.expect("(");
                let count = self.parse_expr();
                self.expect(")");
                (StmtKind::Unroll { count, body: self.block() }, false)
            }
            Some("while") => {
                self.bump();
                self.expect("(");
                let cond = self.parse_expr();
                self.expect(")");
                (StmtKind::While { cond, body: self.block() }, false)
            }
            Some("for") => (self.for_stmt(), false),
            Some("let") => (self.let_stmt(), true),
            Some("break") => {
                self.bump();
                (StmtKind::Break, true)
            }
            Some("continue") => {
                self.bump();
                (StmtKind::Continue, true)
            }
            Some("return") => {
                self.bump();
                (StmtKind::Return, true)
            }
            _ if self.at("{") => (StmtKind::Block(self.block()), false),
            _ => (self.expr_or_assign(), true),
        };
        let end = self.peeked.as_ref().map_or(start, |t| t.span);
        (
            Stmt { kind, span: Span::new(start.start as usize, end.start.max(start.end) as usize) },
            needs_semi,
        )
    }

    fn if_stmt(&mut self) -> StmtKind {
        self.bump(); // if
        let cond = self.parse_expr();
        let then = self.block();
        let els = if self.at_ident("else") {
            self.bump();
            if self.at_ident("if") {
                let start = self.peek().span;
                let kind = self.if_stmt();
                let span = start.to(self.peek().span);
                Some(Block { stmts: vec![Stmt { kind, span }], span })
            } else {
                Some(self.block())
            }
        } else {
            None
        };
        StmtKind::If { cond, then, els }
    }

    fn for_stmt(&mut self) -> StmtKind {
        self.bump(); // for
        self.expect("(");
        let var_token = self.bump();
        let TokenKind::Var(var) = var_token.kind else {
            self.error(Diagnostic::error(
                format!(
                    "expected a `$variable` after `for (`, found {}",
                    describe(&var_token.kind)
                ),
                var_token.span,
                "expected a variable",
            ));
            return StmtKind::Break;
        };
        self.expect(":");
        let first = self.parse_expr();
        if matches!(first.kind, ExprKind::Map { .. }) && self.at(")") {
            self.bump();
            let body = self.block();
            return StmtKind::ForMap { var, var_span: var_token.span, map: first, body };
        }
        self.expect("..");
        let end = self.parse_expr();
        self.expect(")");
        let body = self.block();
        StmtKind::ForRange { var, var_span: var_token.span, start: first, end, body }
    }

    fn let_stmt(&mut self) -> StmtKind {
        self.bump(); // let
        let token = self.bump();
        let TokenKind::Var(name) = token.kind else {
            let msg = match token.kind {
                TokenKind::Map(_) => {
                    "map declarations (`let @m = hash(N);`) are only allowed at top level, before the probes".to_string()
                }
                other => format!("expected a `$variable` after `let`, found {}", describe(&other)),
            };
            self.error(Diagnostic::error(msg, token.span, "expected a variable"));
            return StmtKind::Break;
        };
        let ty = if self.eat(":") { self.type_name() } else { None };
        let value = if self.eat("=") { Some(self.parse_expr()) } else { None };
        StmtKind::Let { name, name_span: token.span, ty, value }
    }

    /// A type name after `:` in `let` (`uint32`, `string`, `int64*`, `struct task_struct *`,
    /// `typeof($other)`).
    pub(super) fn type_name(&mut self) -> Option<TypeName> {
        if self.at_ident("typeof") {
            let start = self.bump().span;
            self.expect("(");
            let of = self.parse_expr();
            let end = self.peek().span;
            self.expect(")");
            let span = start.to(end);
            let name = "typeof".to_string();
            return Some(TypeName { name, pointers: 0, array: None, span, of: Some(Box::new(of)) });
        }
        if let Some(ty) = self.eat_type(true) {
            return Some(ty);
        }
        let token = self.bump();
        self.error(Diagnostic::error("expected a type name", token.span, "not a type"));
        None
    }

    fn expr_or_assign(&mut self) -> StmtKind {
        let target = self.parse_expr();
        if self.at("=") {
            self.bump();
            let value = self.parse_expr();
            if matches!(&target.kind, ExprKind::Ident(name) if name == "_") {
                return StmtKind::Discard(value);
            }
            return StmtKind::Assign { target, op: None, value };
        }
        for (punct, op) in COMPOUND {
            if self.at(punct) {
                self.bump();
                let value = self.parse_expr();
                return StmtKind::Assign { target, op: Some(*op), value };
            }
        }
        StmtKind::Expr(target)
    }
}
