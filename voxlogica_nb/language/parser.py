"""Lexer and parser for ImgQL.

There is no operator precedence: infix chains group to the right and a
prefix operator takes everything to its right. The parser is written as
recursive descent, but its methods are generators driven from a list
(:func:`_drive`): a method that needs a sub-expression yields the generator
parsing it. Nesting depth is therefore limited by memory, not by Python's
recursion limit.

A syntax error does not end parsing at once: the parser skips to the next
command keyword that begins a line and goes on, so one run reports up to
``MAX_ERRORS`` syntax errors (the lexer stops at the first bad character).
"""
from __future__ import annotations

import re

from ..errors import MAX_ERRORS, VoxLogicaError
from .syntax import (Bool, Call, Chain, For, Import, Let, LetIn, Load, Number, Pos, Print,
                     Program, Save, String)

KEYWORDS = frozenset("let load save print import for in do true false".split())
COMMANDS = frozenset("let load save print import".split())
OP_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ#;:_'.|!$%&/^=*-+<>?@~\\")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z0-9_]*")
_PUNCT = {"(": "(", ")": ")", "[": "[", "]": "]", ",": ","}


class Token:
    __slots__ = ("kind", "text", "line", "col", "start", "end")

    def __init__(self, kind, text, line, col, start, end):
        self.kind, self.text, self.line, self.col, self.start, self.end = kind, text, line, col, start, end

    def __repr__(self):
        return f"{self.kind}:{self.text!r}@{self.line}:{self.col}"


def describe_token(tok: Token) -> str:
    if tok.kind == "eof":
        return "end of input"
    if tok.kind == "str":
        return f'string "{tok.text}"'
    return f"`{tok.text}`"


def tokenize(text: str, source: str = "<program>") -> list[Token]:
    toks: list[Token] = []
    i, n, line, line_start = 0, len(text), 1, 0
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            line_start = i
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        col = i - line_start + 1
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c.isdigit() and (m := _NUMBER.match(text, i)) is not None:  # not "²": no number
            toks.append(Token("num", m.group(), line, col, i, m.end()))
            i = m.end()
        elif c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                _fail("unterminated string", source, text, line, col)
            s = text[i + 1:j]
            if "\n" in s:
                _fail("unterminated string (strings cannot span lines)", source, text, line, col)
            toks.append(Token("str", s, line, col, i, j + 1))
            i = j + 1
        elif c in _PUNCT:
            toks.append(Token(c, c, line, col, i, i + 1))
            i += 1
        elif "a" <= c <= "z":
            m = _WORD.match(text, i + 1)
            j = m.end()
            word = text[i:j]
            if word in KEYWORDS:
                toks.append(Token("kw", word, line, col, i, j))
            elif j + 1 < n and text[j] == "." and text[j + 1].isalpha():
                k = _WORD.match(text, j + 1).end()
                toks.append(Token("name", text[i:k], line, col, i, k))
                j = k
            else:
                toks.append(Token("name", word, line, col, i, j))
            i = j
        elif "A" <= c <= "Z" and any("a" <= ch <= "z" for ch in _WORD.match(text, i).group()):
            j = _WORD.match(text, i).end()
            toks.append(Token("name", text[i:j], line, col, i, j))  # capitalised name
            i = j
        elif c in OP_CHARS:
            j = i + 1
            while j < n and text[j] in OP_CHARS and not text.startswith("//", j):
                j += 1
            toks.append(Token("op", text[i:j], line, col, i, j))
            i = j
        else:
            _fail(f"unexpected character {c!r}", source, text, line, col)
    if toks:  # just after the last token, so "found end of input" points at a visible line
        last = toks[-1]
        line, col = last.line, last.col + (last.end - last.start)
    else:
        col = n - line_start + 1
    toks.append(Token("eof", "", line, col, n, n))
    return toks


def _fail(message, source, text, line, col, hint=""):
    lines = text.splitlines()
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    raise VoxLogicaError(message, source, line, col, src, hint)


def parse(text: str, source: str = "<program>") -> Program:
    """Parse a whole program into a :class:`Program` of commands."""
    return _Parser(text, source).program()


def parse_expression(text: str, source: str = "<expression>"):
    """Parse a single expression (what the ``%voxlogica`` line magic takes)."""
    p = _Parser(text, source)
    e = p.expr()
    p.expect_end()
    return e


def _drive(gen):
    """Run a parsing generator to its end and return its value. Whenever a
    generator yields another one, that one runs first and its value is sent
    back: recursion on a list instead of Python's stack."""
    stack = [gen]
    value = None
    while True:
        try:
            sub = stack[-1].send(value)
        except StopIteration as stop:
            stack.pop()
            if not stack:
                return stop.value
            value = stop.value
        else:
            stack.append(sub)
            value = None


class _Parser:
    def __init__(self, text, source):
        self.text = text
        self.source = source
        self.toks = tokenize(text, source)
        self.i = 0
        self._groups_with_comma = None

    # -- helpers -----------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k=1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def pos(self, tok=None) -> Pos:
        tok = tok or self.tok
        return Pos(self.source, tok.line, tok.col)

    def error(self, message, tok=None, hint=""):
        tok = tok or self.tok
        _fail(message, self.source, self.text, tok.line, tok.col, hint)

    def advance(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, kind, text=None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text)

    def expect(self, kind, text=None, what=None) -> Token:
        if not self.at(kind, text):
            want = what or f"`{text or kind}`"
            self.error(f"expected {want}, found {describe_token(self.tok)}")
        return self.advance()

    def expect_end(self):
        if not self.at("eof"):
            self.error(f"unexpected {describe_token(self.tok)} after the expression")

    # -- commands ----------------------------------------------------------
    def program(self) -> Program:
        prog = Program(source=self.source, text=self.text)
        errors = []
        while not self.at("eof"):
            start = self.i
            try:
                prog.commands.append(self.command())
            except VoxLogicaError as err:
                errors.append(err)
                if len(errors) >= MAX_ERRORS:
                    if self.skip_to_command(start):
                        raise VoxLogicaError.combine(
                            errors, f"stopped at line {self.tok.line}: the rest was not checked") from None
                    break
                self.skip_to_command(start)
        if errors:
            raise VoxLogicaError.combine(errors)
        return prog

    def skip_to_command(self, start) -> bool:
        """After a syntax error in the command that began at token ``start``:
        move to the next command keyword that begins a line (False at the end)."""
        self.i = max(self.i, start + 1)
        while not self.at("eof"):
            t = self.tok
            if t.kind == "kw" and t.text in COMMANDS and self.toks[self.i - 1].line < t.line:
                return True
            self.i += 1
        return False

    def command(self):
        t = self.tok
        if t.kind == "kw":
            if t.text == "let":
                self.advance()
                name, params, value = _drive(self.binding())
                return Let(name, params, value, self.pos(t))
            if t.text == "load":
                self.advance()
                name = self.expect("name", what="a name after `load`").text
                self.expect_eq()
                path = self.expect("str", what="a file path in double quotes").text
                return Load(name, path, self.pos(t))
            if t.text == "save":
                self.advance()
                path = self.expect("str", what="a file path in double quotes").text
                return Save(path, self.expr(), self.pos(t))
            if t.text == "print":
                self.advance()
                label = self.expect("str", what="a label in double quotes").text
                return Print(label, self.expr(), self.pos(t))
            if t.text == "import":
                self.advance()
                return Import(self.expect("str", what="a file or namespace name in double quotes").text, self.pos(t))
        self.error(f"expected a command (let, load, save, print, import), found {describe_token(t)}")

    def expect_eq(self):
        if not self.at("op", "="):
            self.error(f"expected `=`, found {describe_token(self.tok)}")
        self.advance()

    def binding(self):
        """NAME [(params)] = expr, after `let` (a generator, see _drive)."""
        t = self.tok
        if t.kind not in ("name", "op"):
            self.error(f"expected a name to define after `let`, found {describe_token(t)}")
        self.advance()
        params = None
        if self.at("("):
            self.advance()
            params = []
            while True:
                params.append(self.expect("name", what="a parameter name").text)
                if self.at(","):
                    self.advance()
                    continue
                self.expect(")", what="`,` or `)` in the parameter list")
                break
            if len(set(params)) != len(params):
                self.error(f"repeated parameter name in the definition of `{t.text}`", t)
        self.expect_eq()
        value = yield self.expression()
        return t.text, params, value

    # -- expressions -------------------------------------------------------
    def expr(self):
        return _drive(self.expression())

    def expression(self):
        """An expression (a generator, see _drive). Right-grouping chains use
        a list of pending operators: ("pre", token) for a prefix,
        ("in", lhs, token, extra_args, lhs_start, lhs_end, op_end) for infix."""
        pending = []
        toks = self.toks
        while True:
            t = toks[self.i]
            start = t.start
            if t.kind == "kw" and t.text in ("let", "for"):
                value = yield (self.let_in() if t.text == "let" else self.for_())
                break
            if t.kind == "op" and not self.is_signed_number() and not self.is_op_call():
                self.advance()
                pending.append(("pre", t))
                continue
            value = self.leaf()
            if value is None:  # an operand with expressions inside (inlined: one generator less per level)
                if t.kind == "(":
                    self.advance()
                    value = yield self.expression()
                    self.expect(")", what="`)`")
                elif t.kind == "name" or self.is_op_call() or (t.kind == "kw" and t.text == "load"
                                                               and self.peek().kind == "("):
                    self.advance()  # a call; `load(path)` is also an expression
                    value = Call(t.text, (yield self.arguments("(", ")")), self.pos(t))
                else:
                    self.error(f"expected an expression, found {describe_token(t)}")
            op = toks[self.i]
            if op.kind == "op":
                end = toks[self.i - 1].end
                self.i += 1
                extra = (yield self.arguments("[", "]")) if toks[self.i].kind == "[" else []
                pending.append(("in", value, op, extra, start, end, toks[self.i - 1].end))
                continue
            break
        if not pending:
            return value
        chain = None
        if len(pending) > 1:  # how it groups is worth showing in messages
            parts = []
            for item in pending:
                if item[0] == "pre":
                    parts.append(("pre", item[1].start, item[1].end))
                else:
                    parts.append(("operand", item[4], item[5]))
                    parts.append(("in", item[2].start, item[6]))
            parts.append(("operand", start, self.toks[self.i - 1].end))
            chain = Chain(self.text, parts)
        for item in reversed(pending):
            if item[0] == "pre":
                tok = item[1]
                value = Call(tok.text, [value], self.pos(tok), chain)
            else:
                _, lhs, tok, extra, *_ = item
                value = Call(tok.text, [lhs, value, *extra], self.pos(tok), chain)
        return value

    def is_signed_number(self) -> bool:
        """Where an operand is expected, `-3`, `+3`, and (as VoxLogicA 1's
        number reader allows) `.5`, `-.5`, `+.5` are numbers."""
        t, nxt = self.tok, self.peek()
        if t.kind != "op" or nxt.kind != "num" or nxt.start != t.end:
            return False
        if t.text in ("-", "+"):
            return True
        return t.text in (".", "-.", "+.") and "." not in nxt.text

    def is_op_call(self) -> bool:
        """An operator followed by a parenthesised list of two or more
        arguments is called like a function: `+(a, b)`. With one argument it
        stays a prefix taking everything to its right, as in VoxLogicA 1:
        `!(a) & b` is `!((a) & b)`."""
        if self.tok.kind != "op" or self.peek().kind != "(":
            return False
        if self._groups_with_comma is None:
            self._groups_with_comma = self.groups_with_comma()
        return self.i + 1 in self._groups_with_comma

    def groups_with_comma(self) -> set:
        """Indices of the opening brackets whose group has a comma of its
        own (at its depth, before it closes), found in one pass."""
        out, open_ = set(), []
        for k, tok in enumerate(self.toks):
            kind = tok.kind
            if kind in ("(", "["):
                open_.append(k)
            elif kind in (")", "]"):
                if open_:
                    open_.pop()
            elif kind == "," and open_:
                out.add(open_[-1])
        return out

    def let_in(self):
        t = self.advance()
        name, params, value = yield self.binding()
        if not self.at("kw", "in"):
            self.error(f"expected `in` after the value of `let {name}`, found {describe_token(self.tok)}")
        self.advance()
        body = yield self.expression()
        return LetIn(name, params, value, body, self.pos(t))

    def for_(self):
        t = self.advance()
        var = self.expect("name", what="a loop variable after `for`").text
        if not self.at("kw", "in"):
            self.error(f"expected `in` after `for {var}`, found {describe_token(self.tok)}")
        self.advance()
        seq = yield self.expression()
        if not self.at("kw", "do"):
            self.error(f"expected `do` after the sequence of `for {var} in …`, found {describe_token(self.tok)}")
        self.advance()
        body = yield self.expression()
        return For(var, seq, body, self.pos(t))

    def leaf(self):
        """An operand that contains no expression (a literal, a bare name),
        or None (the operands with expressions inside are in ``expression``)."""
        # (this runs for every operand: tokens and positions read directly)
        toks, i = self.toks, self.i
        t = toks[i]
        kind = t.kind
        if kind == "num":
            self.i = i + 1
            return Number(float(t.text), Pos(self.source, t.line, t.col))
        if kind == "name":
            if toks[i + 1].kind == "(":  # (a name is never the last token: eof follows)
                return None
            self.i = i + 1
            return Call(t.text, None, Pos(self.source, t.line, t.col))
        if kind == "str":
            self.i = i + 1
            return String(t.text, Pos(self.source, t.line, t.col))
        if kind == "kw" and t.text in ("true", "false"):
            self.i = i + 1
            return Bool(t.text == "true", Pos(self.source, t.line, t.col))
        if self.is_signed_number():
            self.advance()
            num = self.advance()
            return Number(float(t.text + num.text), self.pos(t))
        return None

    def arguments(self, open_, close):
        """A bracketed, comma-separated list of expressions (a generator)."""
        open_tok = self.expect(open_)
        if self.at(close):
            self.error(f"empty argument list: write a zero-argument name without `{open_}{close}`", open_tok)
        args = []
        while True:
            args.append((yield self.expression()))
            if self.at(","):
                self.advance()
                continue
            self.expect(close, what=f"`,` or `{close}`")
            return args
