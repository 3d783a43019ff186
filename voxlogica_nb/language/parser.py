"""Lexer and parser for ImgQL.

There is no operator precedence: infix chains group to the right and a
prefix operator takes everything to its right. The parser is written as
recursive descent, but its methods are generators driven from a list
(:func:`_drive`): a method that needs a sub-expression yields the generator
parsing it. Nesting depth is therefore limited by memory, not by Python's
recursion limit.

Tokens are plain tuples ``(kind, text, line, col)``: kind is ``num``,
``str``, ``name``, ``kw``, ``op``, a bracket or comma, or ``eof``; line and
column count from 1. (A program has one per word and operator: tuples are
made and read several times faster than objects, and offsets in the text,
needed only to show how a chain groups, come from the lines' starts.)

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
_PUNCT = {"(": "(", ")": ")", "[": "[", "]": "]", ",": ","}


def describe_token(tok) -> str:
    if tok[0] == "eof":
        return "end of input"
    if tok[0] == "str":
        return f'string "{tok[1]}"'
    return f"`{tok[1]}`"


# One scan reads the tokens, each with the blanks before it: a newline, a
# word (qualified unless a keyword comes before the dot), a capitalised name,
# a comment, an operator, a number, a string, a bracket or comma; else one
# character: an error, or blanks at the end. Tokens are told apart by their
# first character.
_OPS = re.escape("".join(sorted(OP_CHARS)))
_SCAN = re.compile(
    r"([ \t\r\f\v]*)(\n"
    r"|(?!(?:" + "|".join(sorted(KEYWORDS)) + r")\.)[a-z][A-Za-z0-9_]*\.(?=[A-Za-z])[A-Za-z0-9_]*"
    r"|[a-z][A-Za-z0-9_]*"
    r"|[A-Z][A-Z0-9_]*[a-z][A-Za-z0-9_]*"
    r"|//[^\n]*"
    r"|(?!//)[" + _OPS + r"](?:(?!//)[" + _OPS + r"])*"
    r"|" + _NUMBER.pattern +
    r'|"[^"\n]*"'
    r"|[()\[\],]"
    r"|.)")
_CHUNK = 1 << 16  # characters scanned at a time (up to a newline: no token spans one)
_LOWER, _UPPER, _SLASH = "a", "A", "/"
_FIRST = {**dict.fromkeys("abcdefghijklmnopqrstuvwxyz", _LOWER), **dict.fromkeys("0123456789", "num"),
          **dict.fromkeys(OP_CHARS, "op"), **dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZ", _UPPER),
          **_PUNCT, '"': "str", "/": _SLASH, "\n": "\n"}


def tokenize(text: str, source: str = "<program>") -> list[tuple]:
    """The tokens of ``text``, ending with an ``eof`` token."""
    return _tokenize(text, source)[0]


def _tokenize(text, source):
    """(the tokens of ``text``, the offset where each line starts)."""
    toks: list[tuple] = []
    line_starts = [0]
    append, first, keywords, scan = toks.append, _FIRST.get, KEYWORDS, _SCAN.findall
    i, n, line, line_start = 0, len(text), 1, 0
    while i < n:
        end = text.find("\n", i + _CHUNK) + 1 or n
        for blanks, tok in scan(text, i, end):
            i += len(blanks)
            kind = first(tok[0])
            j = i + len(tok)
            if kind is _LOWER:
                kind = "kw" if tok in keywords else "name"
            elif kind == "\n":
                line += 1
                line_start = i = j
                line_starts.append(j)
                continue
            elif kind is _SLASH:
                if tok[1:2] == "/":  # a comment
                    i = j
                    continue
                kind = "op"
            elif kind is _UPPER:
                kind = "op" if tok.upper() == tok else "name"
            elif kind == "str":
                if len(tok) == 1:
                    break  # unterminated
                append(("str", tok[1:-1], line, i - line_start + 1))
                i = j
                continue
            elif kind is None:
                if _NUMBER.fullmatch(tok) is None:  # (a number in other digits than 0-9 is one)
                    break
                kind = "num"
            append((kind, tok, line, i - line_start + 1))
            i = j
        else:
            continue
        i = _one_token(text, i, line, line_start, source)
    if toks:  # just after the last token, so "found end of input" points at a visible line
        last = toks[-1]
        line, col = last[2], last[3] + _length(last)
    else:
        col = n - line_start + 1
    append(("eof", "", line, col))
    return toks, line_starts


def _length(tok) -> int:
    """How many characters of the text a token spans."""
    return len(tok[1]) + 2 if tok[0] == "str" else len(tok[1])


def _one_token(text, i, line, line_start, source) -> int:
    """The character at ``i`` that the scan does not read: a blank at the
    end of the text (where the next token begins is returned), else an error
    raised."""
    c = text[i]
    col = i - line_start + 1
    if c in " \t\r\f\v":
        return i + 1
    if c == '"':
        s = text[i + 1:]
        _fail("unterminated string (strings cannot span lines)" if '"' in s and "\n" in s[:s.index('"')]
              else "unterminated string", source, text, line, col)
    _fail(f"unexpected character {c!r}", source, text, line, col)


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
    try:  # most expressions have nothing nested that needs the stack
        sub = gen.send(None)
    except StopIteration as stop:
        return stop.value
    stack = [gen, sub]
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


_new = tuple.__new__  # Pos(…) without its Python-level __new__ (one per node)


def _operand(toks, i, source):
    """The node of token ``i`` if it is an operand with nothing inside: a
    name not called (an ``eof`` follows the last token) or a number; else None."""
    t = toks[i]
    kind = t[0]
    if kind == "name":
        if toks[i + 1][0] == "(":
            return None
        return Call(t[1], None, _new(Pos, (source, t[2], t[3])))
    if kind == "num":
        return Number(float(t[1]), _new(Pos, (source, t[2], t[3])))
    return None


class _Parser:
    def __init__(self, text, source):
        self.text = text
        self.source = source
        self.toks, self.line_starts = _tokenize(text, source)
        self.i = 0
        self._groups_with_comma = None

    # -- helpers -----------------------------------------------------------
    @property
    def tok(self) -> tuple:
        return self.toks[self.i]

    def peek(self, k=1) -> tuple:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def offset(self, tok) -> int:
        """Where ``tok`` begins in the text."""
        return self.line_starts[tok[2] - 1] + tok[3] - 1

    def end(self, tok) -> int:
        """Where ``tok`` ends in the text."""
        return self.offset(tok) + _length(tok)

    def pos(self, tok=None) -> Pos:
        tok = tok or self.toks[self.i]
        return _new(Pos, (self.source, tok[2], tok[3]))

    def error(self, message, tok=None, hint=""):
        tok = tok or self.tok
        _fail(message, self.source, self.text, tok[2], tok[3], hint)

    def advance(self) -> tuple:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, kind, text=None) -> bool:
        t = self.toks[self.i]
        return t[0] == kind and (text is None or t[1] == text)

    def expect(self, kind, text=None, what=None) -> tuple:
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
        commands, toks = prog.commands, self.toks
        errors = []
        while toks[self.i][0] != "eof":
            start = self.i
            try:
                commands.append(self.command())
            except VoxLogicaError as err:
                errors.append(err)
                if len(errors) >= MAX_ERRORS:
                    if self.skip_to_command(start):
                        raise VoxLogicaError.combine(
                            errors, f"stopped at line {self.tok[2]}: the rest was not checked") from None
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
            if t[0] == "kw" and t[1] in COMMANDS and self.toks[self.i - 1][2] < t[2]:
                return True
            self.i += 1
        return False

    def command(self):
        t = self.toks[self.i]
        if t[0] == "kw":
            word = t[1]
            if word == "let":
                self.i += 1
                name, params = self.binding()
                return Let(name, params, self.expr(), self.pos(t))
            if word == "load":
                self.advance()
                name = self.expect("name", what="a name after `load`")[1]
                self.expect_eq()
                path = self.expect("str", what="a file path in double quotes")[1]
                return Load(name, path, self.pos(t))
            if word == "save":
                self.advance()
                path = self.expect("str", what="a file path in double quotes")[1]
                return Save(path, self.expr(), self.pos(t))
            if word == "print":
                self.advance()
                label = self.expect("str", what="a label in double quotes")[1]
                return Print(label, self.expr(), self.pos(t))
            if word == "import":
                self.advance()
                return Import(self.expect("str", what="a file or namespace name in double quotes")[1], self.pos(t))
        self.error(f"expected a command (let, load, save, print, import), found {describe_token(t)}")

    def expect_eq(self):
        t = self.toks[self.i]
        if t[0] != "op" or t[1] != "=":
            self.error(f"expected `=`, found {describe_token(t)}")
        self.i += 1

    def binding(self):
        """``NAME [(params)] =`` after `let`: (name, params or None); the
        value follows."""
        t = self.toks[self.i]
        if t[0] != "name" and t[0] != "op":
            self.error(f"expected a name to define after `let`, found {describe_token(t)}")
        self.i += 1
        params = None
        if self.toks[self.i][0] == "(":
            self.advance()
            params = []
            while True:
                params.append(self.expect("name", what="a parameter name")[1])
                if self.at(","):
                    self.advance()
                    continue
                self.expect(")", what="`,` or `)` in the parameter list")
                break
            if len(set(params)) != len(params):
                self.error(f"repeated parameter name in the definition of `{t[1]}`", t)
        self.expect_eq()
        return t[1], params

    # -- expressions -------------------------------------------------------
    def expr(self):
        value = self.simple()
        return _drive(self.expression()) if value is None else value

    def simple(self):
        """The commonest expressions, ``a`` and ``a op b`` with names and
        numbers for operands, read without the machinery of
        :meth:`expression` (which gives the same nodes); None, with nothing
        read, for any other."""
        toks, i, source = self.toks, self.i, self.source
        left = _operand(toks, i, source)
        if left is None:
            return None
        op = toks[i + 1]
        if op[0] != "op":
            self.i = i + 1
            return left
        right = _operand(toks, i + 2, source)
        if right is None or toks[i + 3][0] == "op":  # another operand, or a longer chain
            return None
        self.i = i + 3
        return Call(op[1], [left, right], _new(Pos, (source, op[2], op[3])))

    def expression(self):
        """An expression (a generator, see _drive). Right-grouping chains use
        a list of pending operators: ("pre", token) for a prefix,
        ("in", lhs, token, extra_args, lhs_first, lhs_last, op_last) for
        infix (the first and last tokens of the operand and of the operator
        with its extra arguments). Names and numbers are read by
        :func:`_operand`."""
        pending = []
        toks, source = self.toks, self.source
        while True:
            i = self.i
            t = toks[i]
            kind = t[0]
            value = _operand(toks, i, source)
            if value is not None:
                self.i = i + 1
            elif kind == "kw" and (t[1] == "let" or t[1] == "for"):
                value = yield (self.let_in() if t[1] == "let" else self.for_())
                break
            elif kind == "op" and not self.is_signed_number() and not self.is_op_call():
                self.i = i + 1
                pending.append(("pre", t))
                continue
            else:
                value = self.leaf()
                if value is None:  # an operand with expressions inside (inlined: one generator less per level)
                    if kind == "(":
                        self.i = i + 1
                        value = yield self.expression()
                        self.expect(")", what="`)`")
                    elif kind == "name" or self.is_op_call() or (kind == "kw" and t[1] == "load"
                                                                 and self.peek()[0] == "("):
                        self.i = i + 1  # a call; `load(path)` is also an expression
                        value = Call(t[1], (yield self.arguments("(", ")")), self.pos(t))
                    else:
                        self.error(f"expected an expression, found {describe_token(t)}")
            op = toks[self.i]
            if op[0] == "op":
                last = toks[self.i - 1]
                self.i += 1
                extra = (yield self.arguments("[", "]")) if toks[self.i][0] == "[" else []
                pending.append(("in", value, op, extra, t, last, toks[self.i - 1]))
                continue
            break
        if not pending:
            return value
        chain = None
        if len(pending) > 1:  # how it groups is worth showing in messages
            parts = []
            for item in pending:
                if item[0] == "pre":
                    parts.append(("pre", self.offset(item[1]), self.end(item[1])))
                else:
                    parts.append(("operand", self.offset(item[4]), self.end(item[5])))
                    parts.append(("in", self.offset(item[2]), self.end(item[6])))
            parts.append(("operand", self.offset(t), self.end(toks[self.i - 1])))
            chain = Chain(self.text, parts)
        for item in reversed(pending):
            if item[0] == "pre":
                tok = item[1]
                value = Call(tok[1], [value], self.pos(tok), chain)
            else:
                tok = item[2]
                value = Call(tok[1], [item[1], value, *item[3]], self.pos(tok), chain)
        return value

    def is_signed_number(self) -> bool:
        """Where an operand is expected, `-3`, `+3`, and (as VoxLogicA 1's
        number reader allows) `.5`, `-.5`, `+.5` are numbers."""
        t, nxt = self.tok, self.peek()
        if t[0] != "op" or nxt[0] != "num" or nxt[2] != t[2] or nxt[3] != t[3] + len(t[1]):
            return False  # (not a number right after the sign)
        if t[1] in ("-", "+"):
            return True
        return t[1] in (".", "-.", "+.") and "." not in nxt[1]

    def is_op_call(self) -> bool:
        """An operator followed by a parenthesised list of two or more
        arguments is called like a function: `+(a, b)`. With one argument it
        stays a prefix taking everything to its right, as in VoxLogicA 1:
        `!(a) & b` is `!((a) & b)`."""
        if self.tok[0] != "op" or self.peek()[0] != "(":
            return False
        if self._groups_with_comma is None:
            self._groups_with_comma = self.groups_with_comma()
        return self.i + 1 in self._groups_with_comma

    def groups_with_comma(self) -> set:
        """Indices of the opening brackets whose group has a comma of its
        own (at its depth, before it closes), found in one pass."""
        out, open_ = set(), []
        for k, tok in enumerate(self.toks):
            kind = tok[0]
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
        name, params = self.binding()
        value = yield self.expression()
        if not self.at("kw", "in"):
            self.error(f"expected `in` after the value of `let {name}`, found {describe_token(self.tok)}")
        self.advance()
        body = yield self.expression()
        return LetIn(name, params, value, body, self.pos(t))

    def for_(self):
        t = self.advance()
        var = self.expect("name", what="a loop variable after `for`")[1]
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
        """An operand that contains no expression and is not a name or a
        number (read in ``expression``): a string, a boolean, a signed
        number; else None."""
        t = self.toks[self.i]
        kind = t[0]
        if kind == "str":
            self.i += 1
            return String(t[1], self.pos(t))
        if kind == "kw" and t[1] in ("true", "false"):
            self.i += 1
            return Bool(t[1] == "true", self.pos(t))
        if self.is_signed_number():
            self.advance()
            num = self.advance()
            return Number(float(t[1] + num[1]), self.pos(t))
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
