"""Generated ImgQL programs shared by the tests and the benchmarks."""


def fib_program(n: int) -> str:
    """The Fibonacci chain ``f0 = 1``, ``f1 = 1``, ``fi = f(i-1) + f(i-2)``,
    printing ``f<n>`` (n - 1 additions, one task each)."""
    lines = ["let f0 = 1", "let f1 = 1"] + [f"let f{i} = f{i-1} + f{i-2}" for i in range(2, n + 1)]
    return "\n".join(lines) + f'\nprint "f{n}" f{n}'


def explosion_program(depth: int) -> str:
    """The "function explosion": 6^depth call paths over few distinct tasks."""
    lines = ["let f0(x) = 1", "let f1(x) = 1"]
    for i in range(2, depth + 1):
        a, b = f"f{i-1}", f"f{i-2}"
        lines.append(f"let f{i}(x) = {a}(x+1) + {b}(x-1) + {a}(x*2) + {b}(x/2) + {a}(x) + {b}(x)")
    return "\n".join(lines) + f'\nprint "v" f{depth}(1)'
