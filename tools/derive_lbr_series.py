"""Derivation checks for the clean-room implied-vol kernel openmlink/analytics/_lbr.py.

Run: python tools/derive_lbr_series.py   (needs sympy and mpmath; not runtime dependencies)

1. erfcx(a-d) - erfcx(a+d) = 4/sqrt(pi) Int_0^inf e^{-u^2-2au} sinh(2du) du
                           = 4/sqrt(pi) Sum_{k odd} (2d)^k/k! M_k(a)         (checked numerically)
2. M_k(a) = Int_0^inf u^k e^{-u^2-2au} du obeys 2 M_1 + 2a M_0 = 1 and
   2 M_k + 2a M_{k-1} = (k-1) M_{k-2} for k >= 2                              (checked symbolically)
3. the large-a expansion of M_1 used by the low-wing initial guess,
   M_1 ~ 1/(4a^2) (1 - 3/(2a^2) + 15/(4a^4) - 105/(8a^6))                     (generated)
4. Householder's order-3 step for f: with n = -f/f', h2 = f''/f', h3 = f'''/f',
   x_new - x = 3 (1/f)''/(1/f)''' = n (1 + n h2/2) / (1 + n h2 + n^2 h3/6)      (checked symbolically)
"""

from __future__ import annotations

import mpmath as mp
import sympy as sp


def main() -> None:
    u, a, d = sp.symbols("u a d", positive=True)
    # 2. recurrences by integration by parts, checked on explicit k
    w = sp.exp(-u**2 - 2 * a * u)

    def moment(k: int) -> sp.Expr:
        return sp.integrate(u**k * w, (u, 0, sp.oo))

    m = [sp.simplify(moment(k)) for k in range(6)]
    assert sp.simplify(2 * m[1] + 2 * a * m[0] - 1) == 0
    for k in range(2, 6):
        assert sp.simplify(2 * m[k] + 2 * a * m[k - 1] - (k - 1) * m[k - 2]) == 0
    print("moment recurrences: ok")

    # 3. asymptotic series of M_1: Int u e^{-2au} sum_j (-u^2)^j/j! = sum_j (-1)^j (2j+1)!/(j! (2a)^(2j+2))
    coeffs = [sp.Rational((-1) ** j * sp.factorial(2 * j + 1), sp.factorial(j) * 4**j)
              for j in range(4)]
    print("M_1 * 4a^2 = 1 + sum c_j / a^(2j):", [str(c) for c in coeffs])
    assert coeffs == [1, sp.Rational(-3, 2), sp.Rational(15, 4), sp.Rational(-105, 8)]

    # 1. the sinh-moment series against mpmath
    mp.mp.dps = 40
    for av, dv in ((mp.mpf("0.3"), mp.mpf("0.01")), (mp.mpf(2), mp.mpf("0.05")), (mp.mpf(6), mp.mpf("0.1"))):
        lhs = mp.exp((av - dv) ** 2) * mp.erfc(av - dv) - mp.exp((av + dv) ** 2) * mp.erfc(av + dv)
        mom = [mp.quad(lambda x, k=k, av=av: x**k * mp.exp(-x * x - 2 * av * x), [0, mp.inf])
               for k in range(0, 30)]
        rhs = 4 / mp.sqrt(mp.pi) * mp.fsum((2 * dv) ** k / mp.factorial(k) * mom[k]
                                           for k in range(1, 30, 2))
        assert abs(lhs / rhs - 1) < mp.mpf("1e-20"), (av, dv, lhs / rhs - 1)
    print("sinh-moment series: ok")

    # 4. Householder order 3
    x = sp.symbols("x")
    f = sp.Function("f")(x)
    g = 1 / f
    step = 3 * sp.diff(g, x, 2) / sp.diff(g, x, 3)
    f1, f2, f3 = (sp.diff(f, x, k) for k in (1, 2, 3))
    n, h2, h3 = -f / f1, f2 / f1, f3 / f1
    assert sp.simplify(step - n * (1 + n * h2 / 2) / (1 + n * h2 + n**2 * h3 / 6)) == 0
    print("Householder(3) step: ok")
    del d


if __name__ == "__main__":
    main()
