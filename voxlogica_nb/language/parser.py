"""Lexer and recursive-descent parser for ImgQL (LANGUAGE.md §1–3).

There is no operator precedence: infix chains group to the right and a
prefix operator takes everything to its right. Chains are parsed with an
explicit stack, so long programs do not exhaust Python's recursion limit.
"""
from __future__ import annotations

import re

from ..errors import VoxLogicaError
from .syntax import (Bool, Call, For, Import, Let, LetIn, Load, Number, Pos, Print,
                     Program, Save, String)

KEYWORDS = frozenset("let load save print import for in do true false".split())
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
        if c.isdigit():
            m = _NUMBER.match(text, i)
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


class _Parser:
    def __init__(self, text, source):
        self.text = text
        self.source = source
        self.toks = tokenize(text, source)
        self.i = 0

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
        while not self.at("eof"):
            prog.commands.append(self.command())
        return prog

    def command(self):
        t = self.tok
        if t.kind == "kw":
            if t.text == "let":
                self.advance()
                name, params, value = self.binding()
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
        """NAME [(params)] = expr, after `let`."""
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
        return t.text, params, self.expr()

    # -- expressions -------------------------------------------------------
    def expr(self):
        # Right-grouping chains with an explicit stack of pending operators:
        # ("in", lhs, op, extra_args, pos) for infix, ("pre", op, pos) for prefix.
        pending = []
        while True:
            t = self.tok
            if t.kind == "kw" and t.text in ("let", "for"):
                value = self.let_in() if t.text == "let" else self.for_()
                break
            if t.kind == "op" and not self.is_signed_number() and not self.is_op_call():
                self.advance()
                pending.append(("pre", t.text, self.pos(t)))
                continue
            value = self.operand()
            if self.at("op"):
                op = self.advance()
                extra = self.arguments("[", "]") if self.at("[") else []
                pending.append(("in", value, op.text, extra, self.pos(op)))
                continue
            break
        for item in reversed(pending):
            if item[0] == "pre":
                value = Call(item[1], [value], item[2])
            else:
                _, lhs, op, extra, pos = item
                value = Call(op, [lhs, value, *extra], pos)
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
        depth, k = 0, self.i + 1
        while k < len(self.toks):
            kind = self.toks[k].kind
            if kind in ("(", "["):
                depth += 1
            elif kind in (")", "]"):
                depth -= 1
                if depth == 0:
                    return False
            elif kind == "," and depth == 1:
                return True
            elif kind == "eof":
                return False
            k += 1
        return False

    def let_in(self):
        t = self.advance()
        name, params, value = self.binding()
        if not self.at("kw", "in"):
            self.error(f"expected `in` after the value of `let {name}`, found {describe_token(self.tok)}")
        self.advance()
        return LetIn(name, params, value, self.expr(), self.pos(t))

    def for_(self):
        t = self.advance()
        var = self.expect("name", what="a loop variable after `for`").text
        if not self.at("kw", "in"):
            self.error(f"expected `in` after `for {var}`, found {describe_token(self.tok)}")
        self.advance()
        seq = self.expr()
        if not self.at("kw", "do"):
            self.error(f"expected `do` after the sequence of `for {var} in …`, found {describe_token(self.tok)}")
        self.advance()
        return For(var, seq, self.expr(), self.pos(t))

    def operand(self):
        t = self.tok
        if t.kind == "num":
            self.advance()
            return Number(float(t.text), self.pos(t))
        if self.is_signed_number():
            self.advance()
            num = self.advance()
            return Number(float(t.text + num.text), self.pos(t))
        if t.kind == "str":
            self.advance()
            return String(t.text, self.pos(t))
        if t.kind == "kw" and t.text in ("true", "false"):
            self.advance()
            return Bool(t.text == "true", self.pos(t))
        if t.kind == "name" or (t.kind == "kw" and t.text == "load" and self.peek().kind == "("):
            self.advance()  # `load(path)` is also an expression
            args = self.arguments("(", ")") if self.at("(") else None
            return Call(t.text, args, self.pos(t))
        if self.is_op_call():
            self.advance()
            return Call(t.text, self.arguments("(", ")"), self.pos(t))
        if t.kind == "(":
            self.advance()
            e = self.expr()
            self.expect(")", what="`)`")
            return e
        self.error(f"expected an expression, found {describe_token(t)}")

    def arguments(self, open_, close):
        open_tok = self.expect(open_)
        if self.at(close):
            self.error(f"empty argument list: write a zero-argument name without `{open_}{close}`", open_tok)
        args = []
        while True:
            args.append(self.expr())
            if self.at(","):
                self.advance()
                continue
            self.expect(close, what=f"`,` or `{close}`")
            return args
