"""Pre-trade risk (trading.md §1.9): counters per risk scope and the size a child may have
before it would breach a limit, and the EMA-cancel flows.

Scopes (counters keyed by (accnt, clientFirm, ...)): the risk group (``maxGrpDay*``: $delta,
vega, option contracts, future contracts, rMetric1..5), the symbol (``maxSymDay*``: $delta,
vega, wtVega, rMetric7; the underlier's TickerKey), the expiration (``maxExpDay*``: wtVega,
rMetric6; the ExpiryKey, which names the underlier as SpiderRock's expiry keys do -- inferred)
and the account (``maxAccDay*``: $delta, wtVega, with offsets; the older schema's account-day
scope: every order of the (accnt, clientFirm) shares the counter).

``grpDayVegaRatio`` / ``grpDayRMetric1Ratio`` ("target bot / sld ratio: ratio 2 means neutral is
bot vega = 2x sld vega") move the neutral point of the group's vega / rMetric1 limits: those
limits see the net ``bot - ratio·sld`` instead of ``bot - sld`` (inferred from the field
comment), so a sold contract moves the counter ``ratio`` times its metric.

Per contract of a child (signed by side, ``per_unit``): $delta ``de·uPrc·pointValue``, vega
``ve·pointValue``, contracts 1, wtVega ``ve·iVol/√max(0.1, 4·years)·pointValue`` (the weighting
of SymbolRiskSummaryV5), rMetricN ``orderRefRMetricN·pointValue`` (``netRMetricN = Σ fillQty ·
orderRefRMetricN · underliersPerCn``).  Counters are "fills + IOC leaves": fills are charged
when they happen, IOC children while they are live (resting maker children are capped by the
headroom but not charged until filled).

Limits come from the order (its SpdrParentLimit where that sent the field) and from the
group's SpdrRiskGroupControl; both apply, each with its own offset, so the tighter wins
(inferred).  A limit is a positive number; <= 0 or a field not sent means "no limit"
(inferred: the schema default is 0).  Long headroom ``max_ln - (net - offset)``, short
``max_sh + (net - offset)``, abs ``max_abs - |net|`` in the direction the child moves it.

EMA-cancel (``symEmaCxl*`` on the order or the control, ``accEmaCxl*`` on the control): a
60-second exponentially weighted sum of the filled $delta / wtVega, per (accnt, firm, symbol)
and per (accnt, firm): ``E(t) = Σ x_i·exp(-(t - t_i)/60 s)``.  A fill that takes it beyond a
limit of an order in the scope breaches: every option child of the scope is pulled and its
brokers held (riskLimitSize 0, ``SymEmaDdLn`` ...) until the flow has decayed back within the
limit (inferred: the hold ends by itself; the orders stay open).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import orjson

from ...schema import ExpiryKey, TickerKey

__all__ = ["CONTROL_FIELDS", "M", "Counter", "GroupCounter", "Limits", "RiskBook",
           "compile_limits", "control_limits", "ema_breach", "headroom_grew", "per_unit",
           "risk_limit_size"]

#: metrics of a per-contract vector and of a counter
DD, VE, QTY, WV, RM = 0, 1, 2, 3, 4  # rMetricN at RM + N - 1
FUT = RM + 7  # future contracts (no future is listed here yet: a future child would carry 1)
M = FUT + 1
_NAMES = ("$delta", "vega", "contracts", "wtVega", *(f"rMetric{i}" for i in range(1, 8)),
          "future contracts")
#: scopes of the headroom limits (index into the nets a check gets) and their words
GRP, SYM, EXP, ACC = 0, 1, 2, 3
_SCOPE = ("group", "symbol", "expiry", "account")

#: (scope, metric, ln field, sh field, abs field, offset field, SpdrRisk ln / sh / abs)
_TABLE: tuple[tuple[int, int, str, str, str, str, tuple[str, str, str]], ...] = (
    (GRP, DD, "maxGrpDayDDeltaLn", "maxGrpDayDDeltaSh", "", "", ("GrpDdLn", "GrpDdSh", "")),
    (GRP, VE, "maxGrpDayVegaLn", "maxGrpDayVegaSh", "maxGrpDayVegaAbs", "",
     ("GrpVegaLn", "GrpVegaSh", "GrpVegaAbs")),
    (GRP, QTY, "maxGrpDayContractsLn", "maxGrpDayContractsSh", "maxGrpDayContractsAbs", "",
     ("GrpOptQtyLn", "GrpOptQtySh", "GrpOptQtyAbs")),
    (GRP, FUT, "maxGrpDayFutContractsLn", "maxGrpDayFutContractsSh", "maxGrpDayFutContractsAbs",
     "", ("DayFutCnBot", "DayFutCnSld", "DayFutCnAbs")),
    (GRP, RM, "maxGrpDayRMetric1Ln", "maxGrpDayRMetric1Sh", "maxGrpDayRMetric1Abs", "",
     ("GrpRm1Ln", "GrpRm1Sh", "GrpRm1Abs")),
    *((GRP, RM + n - 1, f"maxGrpDayRMetric{n}Ln", f"maxGrpDayRMetric{n}Sh", "", "",
       (f"GrpRm{n}Ln", f"GrpRm{n}Sh", "")) for n in range(2, 6)),
    (SYM, DD, "maxSymDayDDeltaLn", "maxSymDayDDeltaSh", "", "symDayDDeltaOffset",
     ("SymDDeltaLn", "SymDDeltaSh", "")),
    (SYM, VE, "maxSymDayVegaLn", "maxSymDayVegaSh", "", "symDayVegaOffset",
     ("SymVegaLn", "SymVegaSh", "")),
    (SYM, WV, "maxSymDayWtVegaLn", "maxSymDayWtVegaSh", "", "symDayWtVegaOffset",
     ("SymWtVegaLn", "SymWtVegaSh", "")),
    (SYM, RM + 6, "maxSymDayRMetric7Ln", "maxSymDayRMetric7Sh", "", "", ("SymRm7Ln", "SymRm7Sh", "")),
    (EXP, WV, "maxExpDayWtVegaLn", "maxExpDayWtVegaSh", "", "expDayWtVegaOffset",
     ("ExpWtVegaLn", "ExpWtVegaSh", "")),
    (EXP, RM + 5, "maxExpDayRMetric6Ln", "maxExpDayRMetric6Sh", "", "", ("ExpRm6Ln", "ExpRm6Sh", "")),
    (ACC, DD, "maxAccDayDDeltaLn", "maxAccDayDDeltaSh", "", "accDayDDeltaOffset",
     ("DayLnDDelta", "DayShDDelta", "")),
    (ACC, WV, "maxAccDayWtVegaLn", "maxAccDayWtVegaSh", "", "accDayWtVegaOffset",
     ("DayLnWtVe", "DayShWtVe", "")),
)
#: SpdrRisk name of a headroom limit -> (metric, kind)
_BIND = {names[j]: (row[1], kind) for row in _TABLE for names in (row[6],)
         for j, kind in ((0, 1), (1, -1), (2, 0)) if names[j]}
#: the group metrics whose limits a bot/sld ratio field re-centres
_RATIO = {VE: "grpDayVegaRatio", RM: "grpDayRMetric1Ratio"}
#: EMA-cancel: (scope 0 symbol / 1 account, metric, ln field, sh field, SpdrRisk ln / sh)
EMA_SYM, EMA_ACC = 0, 1
_EMA_TABLE = (
    (EMA_SYM, DD, "symEmaCxlDDeltaLn", "symEmaCxlDDeltaSh", ("SymEmaDdLn", "SymEmaDdSh")),
    (EMA_SYM, WV, "symEmaCxlWtVegaLn", "symEmaCxlWtVegaSh", ("SymEmaWvLn", "SymEmaWvSh")),
    (EMA_ACC, DD, "accEmaCxlDDeltaLn", "accEmaCxlDDeltaSh", ("AccEmaDdLn", "AccEmaDdSh")),
    (EMA_ACC, WV, "accEmaCxlWtVegaLn", "accEmaCxlWtVegaSh", ("AccEmaWvLn", "AccEmaWvSh")),
)
EMA_TAU_NS = 60_000_000_000
_EMA_METRICS = (DD, WV)

#: every limit field an order (or its limit record) may carry
ORDER_FIELDS = frozenset(f for row in _TABLE for f in row[2:5] if f) | frozenset(
    f for row in _EMA_TABLE[:2] for f in row[2:4]) | frozenset(_RATIO.values())
#: every limit and offset field a SpdrRiskGroupControl carries that is applied
CONTROL_FIELDS = ORDER_FIELDS | frozenset(f for row in _EMA_TABLE for f in row[2:4]) | frozenset(
    row[5] for row in _TABLE if row[5])
RM_FIELDS = tuple(f"orderRefRMetric{n}" for n in range(1, 8))


class Cap(NamedTuple):
    """One headroom limit in force for a broker."""

    scope: int
    metric: int
    kind: int  # +1 long, -1 short, 0 abs
    limit: float
    offset: float
    name: str  # SpdrRisk
    field: str
    control: bool  # from the group's SpdrRiskGroupControl (else the order)
    ratio: float = 1.0  # bot/sld ratio: the limit sees ``bot - ratio·sld``


class EmaLimit(NamedTuple):
    scope: int  # EMA_SYM / EMA_ACC
    metric: int
    kind: int  # +1 long, -1 short
    limit: float
    name: str
    field: str
    control: bool


class Limits(NamedTuple):
    caps: tuple[Cap, ...] = ()
    emas: tuple[EmaLimit, ...] = ()
    #: the scopes the caps need counters of (bit ``1 << scope``)
    scopes: int = 0
    #: some cap has a bot/sld ratio (it reads the group counter's sides)
    ratios: bool = False


NO_LIMITS = Limits()


def compile_limits(order: Callable[[str], Any] | None, sent: frozenset[str],
                   control: dict[str, float] | None) -> Limits:
    """The limits in force: ``order(field)`` gives the order's effective value of each field in
    ``sent`` (the fields its records carried), ``control`` the group's control values (the
    limits and offsets it set).  Empty when neither sets any."""
    sent = frozenset(sent) if order is not None else frozenset()
    if not (sent & ORDER_FIELDS) and not control:
        return NO_LIMITS
    caps: list[Cap] = []
    emas: list[EmaLimit] = []
    srcs: list[tuple[Callable[[str], Any], bool, Any]] = []
    if sent & ORDER_FIELDS and order is not None:
        srcs.append((order, False, sent))
    if control:
        srcs.append((control.get, True, control))
    for get, ctl, fields in srcs:
        for scope, i, ln, sh, ab, off, names in _TABLE:
            for kind, fld, name in ((1, ln, names[0]), (-1, sh, names[1]), (0, ab, names[2])):
                if not fld or fld not in fields:
                    continue
                v = _pos(get(fld))
                if v:
                    o = _num(get(off)) if off and off in fields else 0.0
                    rf = _RATIO.get(i) if scope == GRP else None
                    r = (_pos(get(rf)) or 1.0) if rf is not None and rf in fields else 1.0
                    caps.append(Cap(scope, i, kind, v, o, name, fld, ctl, r))
        for escope, i, ln, sh, enames in _EMA_TABLE:
            for kind, fld, name in ((1, ln, enames[0]), (-1, sh, enames[1])):
                if fld in fields:
                    v = _pos(get(fld))
                    if v:
                        emas.append(EmaLimit(escope, i, kind, v, name, fld, ctl))
    scopes = 0
    for c in caps:
        scopes |= 1 << c.scope
    return Limits(tuple(caps), tuple(emas), scopes, any(c.ratio != 1.0 for c in caps))


def control_limits(rec: dict[str, Any]) -> dict[str, float]:
    """The limit and offset fields a SpdrRiskGroupControl record set (limits positive,
    offsets non-zero; anything else is no limit)."""
    out = {}
    for f in CONTROL_FIELDS:
        v = rec.get(f)
        if isinstance(v, (int, float)) and math.isfinite(v) and (
                v > 0 or (v != 0 and f.endswith("Offset"))):
            out[f] = float(v)
    return out


def _pos(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0.0
    return x if x > 0 and math.isfinite(x) else 0.0


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def per_unit(side: int, de: float, u_prc: float, pv: float, ve: float, s_vol: float,
             years: float, rms: Sequence[float] = (), stock: bool = False,
             future: bool = False) -> tuple[float, ...]:
    """Signed per-contract metrics of a child ($delta, vega, contracts, wtVega, then
    rMetric1..7 up to the last one set: a missing tail counts 0 -- children carry this vector
    into the journal's venue rows); a share of stock is $delta ``uPrc``, no vega and no option
    contract; a future contract is $delta ``de·uPrc·pointValue`` (de 1), no vega, no option
    contract and one future contract (``FUT``, after the rMetrics)."""
    if stock:
        out = [u_prc * side, 0.0, 0.0, 0.0]
    elif future:
        out = [de * u_prc * pv * side, 0.0, 0.0, 0.0]
    else:
        wt = ve * s_vol / math.sqrt(max(0.1, 4.0 * years)) if years == years else math.nan
        out = [de * u_prc * pv * side, ve * pv * side, float(side), wt * pv * side]
    if any(rms):
        pvr = 1.0 if stock else pv
        out.extend(float(r) * pvr * side if r else 0.0 for r in rms)
        while len(out) > 4 and out[-1] == 0.0:
            out.pop()
    if future:
        out.extend([0.0] * (FUT - len(out)))
        out.append(float(side))
    return tuple(out)


class Counter:
    """Bot/sld sides of every metric as RiskGroupCounter keeps them (fills + live IOC
    leaves), one list entry per metric."""

    __slots__ = ("bot", "counter", "sld")

    def __init__(self) -> None:
        self.bot = [0.0] * M
        self.sld = [0.0] * M
        self.counter = 0

    def add(self, side: int, per: Sequence[float], q: float) -> None:
        """Charge ``q`` contracts of per-contract metrics ``per`` (already signed by side; a
        shorter vector, as journals before the wider one hold, counts 0 for the rest)."""
        # (a metric not known when the child was sent -- NaN greeks -- counts nothing: it
        # would make the counter unknown for good)
        if side > 0:
            bot = self.bot
            for i, x in enumerate(per):
                if x and x - x == 0:
                    bot[i] += (abs(x) if i == QTY else x) * q
        else:  # per is signed by side: a sale's metrics are negative, the sld side positive
            sld = self.sld
            for i, x in enumerate(per):
                if x and x - x == 0:
                    sld[i] += (abs(x) if i == QTY else -x) * q
        self.counter += 1

    def net(self) -> list[float]:
        return [b - s for b, s in zip(self.bot, self.sld, strict=True)]

    # the RiskGroupCounter names of the first three metrics (older callers, records)
    @property
    def dd_bot(self) -> float:
        return self.bot[DD]

    @property
    def dd_sld(self) -> float:
        return self.sld[DD]

    @property
    def ve_bot(self) -> float:
        return self.bot[VE]

    @property
    def ve_sld(self) -> float:
        return self.sld[VE]

    @property
    def qty_bot(self) -> float:
        return self.bot[QTY]

    @property
    def qty_sld(self) -> float:
        return self.sld[QTY]

    def body(self) -> dict[str, Any]:
        return {"bot": self.bot, "sld": self.sld, "counter": self.counter}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> Counter:
        c = cls()
        c.counter = int(d.get("counter", 0))
        if "bot" in d:
            for i, (b, s) in enumerate(zip(d["bot"], d["sld"], strict=True)):
                c.bot[i], c.sld[i] = _num(b), _num(s)
        else:  # a journal before the metric lists: the three named sides (null: a NaN, read as 0)
            for i, k in enumerate(("dd", "ve", "qty")):
                c.bot[i] = _num(d.get(f"{k}_bot", 0.0))
                c.sld[i] = _num(d.get(f"{k}_sld", 0.0))
        return c


GroupCounter = Counter  # the name the group counter had
_ZERO = [0.0] * M


def risk_limit_size(caps: Sequence[Cap], per: Sequence[float],
                    nets: Sequence[Sequence[float]], group: Counter | None = None,
                    side: int = 1) -> tuple[int, str, str]:
    """(max contracts, SpdrRisk name of the binding limit, detail text) over ``caps``;
    (-1, "None", "") when none applies.  ``nets[scope]`` is the scope's net counter; with
    ``group`` (the group counter: given when some cap has a bot/sld ratio, ``Limits.ratios``)
    a ratio cap reads its sides, and a child of ``side`` -1 moves it ``ratio`` times its
    metric."""
    best, bind, bind_net, bind_m, np_ = -1, None, 0.0, 0.0, len(per)
    for cap in caps:
        i = cap.metric
        m = per[i] if i < np_ else 0.0
        if m != m or m in (math.inf, -math.inf):
            return 0, cap.name, (f"{_NAMES[i]} per contract unknown (no surface greeks yet); "
                                 f"{cap.field} cannot be checked")
        kind = cap.kind
        if group is not None and cap.ratio != 1.0:
            net = group.bot[i] - cap.ratio * group.sld[i]
            if side < 0:
                m *= cap.ratio
        else:
            net = nets[cap.scope][i]
        if m == 0 or (kind > 0 and m < 0) or (kind < 0 and m > 0):
            continue  # the child moves away from this limit
        if kind > 0:
            room = cap.limit - (net - cap.offset)
        elif kind < 0:
            room = cap.limit + (net - cap.offset)
        else:
            room = cap.limit - (net if m > 0 else -net)
        n = max(0, math.floor(room / abs(m) + 1e-9))
        if best < 0 or n < best:
            best, bind, bind_net, bind_m = n, cap, net, m
    if bind is None:
        return -1, "None", ""
    i, m = bind.metric, bind_m
    src = " (SpdrRiskGroupControl)" if bind.control else ""
    off = f" less offset {bind.offset:,.2f}" if bind.offset else ""
    rat = f" (bot - {bind.ratio:g} x sld)" if bind.ratio != 1.0 else ""
    return best, bind.name, (f"{bind.field} {bind.limit:g}{src}: {_SCOPE[bind.scope]} "
                             f"{_NAMES[i]}{rat} {bind_net:,.2f}{off}, {m:,.2f} per contract -> "
                             f"at most {best} contracts")


def headroom_grew(desc: str, moved: int) -> bool:
    """Whether nets that moved in the directions ``moved`` (``RiskBook.moved`` bits) may have
    given the binding limit ``desc`` (SpdrRisk) room: a long limit's net went down, a short
    one's up, an abs one's either way.  True for a hold that is not a headroom limit."""
    mk = _BIND.get(desc)
    if mk is None:
        return True
    i, kind = mk
    up, down = moved >> (2 * i) & 1, moved >> (2 * i + 1) & 1
    return bool(down if kind > 0 else up if kind < 0 else up | down)


def ema_breach(emas: Sequence[EmaLimit], values: Sequence[Sequence[float] | None]
               ) -> tuple[EmaLimit, float] | None:
    """The first EMA limit ``values[scope][metric]`` is beyond, with that value; else None."""
    for e in emas:
        v = values[e.scope]
        if v is None:
            continue
        x = v[e.metric]
        if (e.kind > 0 and x > e.limit) or (e.kind < 0 and x < -e.limit):
            return e, x
    return None


class RiskBook:
    """The counters by scope key, the control records' limits and the EMA-cancel flows.

    Keys: group (accnt, clientFirm, riskGroupId), symbol (accnt, clientFirm, TickerKey),
    expiry (accnt, clientFirm, ExpiryKey), account (accnt, clientFirm); EMA flows by ("sym",
    accnt, firm, TickerKey) and ("acc", accnt, firm).  ``dirty`` holds the symbol/expiry/
    account/EMA keys a commit must journal.
    """

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, int], Counter] = {}
        self.syms: dict[tuple[Any, ...], Counter] = {}
        self.exps: dict[tuple[Any, ...], Counter] = {}
        self.accs: dict[tuple[Any, ...], Counter] = {}
        #: the applied limit/offset fields of each group's SpdrRiskGroupControl
        self.controls: dict[tuple[str, str, int], dict[str, float]] = {}
        #: EMA flows: key -> [ema $delta, ema wtVega, ns of the values]
        self.emas: dict[tuple[Any, ...], list[float]] = {}
        #: EMA breaches: key -> (SpdrRisk, detail, ns the hold ends)
        self.breaches: dict[tuple[Any, ...], tuple[str, str, int]] = {}
        #: brokers with EMA limits by EMA key, with their limits of that scope (closed ones
        #: are dropped when a flow first looks beyond their limits)
        self.watch: dict[tuple[Any, ...], dict[tuple[Any, ...], tuple[EmaLimit, ...]]] = {}
        #: per watched key the tightest watcher limits [$delta ln, sh, wtVega ln, sh] (inf:
        #: none): a fill compares its flow with these four, not with every watcher
        self._tight: dict[tuple[Any, ...], list[float]] = {}
        self.dirty: set[tuple[str, tuple[Any, ...]]] = set()
        #: (accnt, clientFirm) of the counters charged since the manager last looked -> the
        #: directions their nets moved in: bit 2·metric up, 2·metric + 1 down
        self.moved: dict[tuple[Any, ...], int] = {}
        self._tables = {"sym": self.syms, "exp": self.exps, "acc": self.accs}

    def group(self, key: tuple[str, str, int]) -> Counter:
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = Counter()
        return g

    def scope(self, table: dict[tuple[Any, ...], Counter], key: tuple[Any, ...]) -> Counter:
        c = table.get(key)
        if c is None:
            c = table[key] = Counter()
        return c

    def nets(self, g: tuple[str, str, int], s: tuple[Any, ...] | None,
             e: tuple[Any, ...] | None, acc: bool = False
             ) -> tuple[list[float], list[float], list[float], list[float]]:
        """The net counters of the group, symbol, expiry and (``acc``) account (a key None,
        or ``acc`` False: zeros, not read)."""
        gc = self.groups.get(g)
        sc = self.syms.get(s) if s is not None else None
        ec = self.exps.get(e) if e is not None else None
        ac = self.accs.get(g[:2]) if acc else None
        return (_ZERO if gc is None else gc.net(), _ZERO if sc is None else sc.net(),
                _ZERO if ec is None else ec.net(), _ZERO if ac is None else ac.net())

    def charge(self, g: tuple[str, str, int], s: tuple[Any, ...], e: tuple[Any, ...] | None,
               side: int, per: Sequence[float], q: float) -> None:
        """Charge the group, symbol, expiry (a stock has none) and account counters."""
        self.group(g).add(side, per, q)
        self.scope(self.syms, s).add(side, per, q)
        self.dirty.add(("sym", s))
        if e is not None:
            self.scope(self.exps, e).add(side, per, q)
            self.dirty.add(("exp", e))
        a = g[:2]
        self.scope(self.accs, a).add(side, per, q)
        self.dirty.add(("acc", a))
        bits = 0
        for i, x in enumerate(per):  # a net moves by per·q whichever side the child is
            if x and x - x == 0:
                bits |= 1 << (2 * i + (x * q < 0))
        self.moved[a] = self.moved.get(a, 0) | bits

    # ---------------------------------------------------------------- EMA-cancel
    def ema_values(self, key: tuple[Any, ...], now: int) -> list[float] | None:
        """The flow of ``key`` decayed to ``now`` (indexable by metric), None if none."""
        v = self.emas.get(key)
        if v is None:
            return None
        k = math.exp(-max(0, now - int(v[2])) / EMA_TAU_NS)
        out = [0.0] * M
        out[DD], out[WV] = v[0] * k, v[1] * k
        return out

    def ema_fill(self, keys: Sequence[tuple[Any, ...]], per: Sequence[float], q: float,
                 now: int) -> None:
        """A fill of ``q`` contracts of ``per`` adds to the flows of ``keys``."""
        for key in keys:
            cur = self.ema_values(key, now)
            dd = (cur[DD] if cur else 0.0) + per[DD] * q
            wv = (cur[WV] if cur else 0.0) + (per[WV] * q if len(per) > WV else 0.0)
            self.emas[key] = [dd, wv, float(now)]
            self.dirty.add(("ema", key))

    def breach(self, key: tuple[Any, ...], lim: EmaLimit, value: float, now: int) -> int:
        """Record a breach of ``lim`` by the flow of ``key`` at ``value``; returns the ns the
        flow is back within the limit (60 s · ln(|value| / limit) later)."""
        until = now + max(1, int(EMA_TAU_NS * math.log(abs(value) / lim.limit)) + 1)
        src = " (SpdrRiskGroupControl)" if lim.control else ""
        what = "symbol" if lim.scope == EMA_SYM else "account"
        detail = (f"{lim.field} {lim.limit:g}{src}: {what} 60s EMA {_NAMES[lim.metric]} "
                  f"{value:,.2f} breached it; option children pulled until it decays")
        prev = self.breaches.get(key)
        if prev is not None and prev[2] > until:
            until = prev[2]
        self.breaches[key] = (lim.name, detail, until)
        self.dirty.add(("ema", key))
        return until

    def held(self, keys: Sequence[tuple[Any, ...]], now: int) -> tuple[str, str, int] | None:
        """The breach holding a broker of the EMA ``keys`` at ``now`` (expired ones are
        dropped), else None."""
        if not self.breaches:
            return None
        for key in keys:
            b = self.breaches.get(key)
            if b is None:
                continue
            if b[2] > now:
                return b
            del self.breaches[key]
            self.dirty.add(("ema", key))
        return None

    def set_watch(self, key: tuple[Any, ...], broker: tuple[Any, ...],
                  emas: tuple[EmaLimit, ...]) -> None:
        """``broker`` watches the flow of ``key`` with ``emas`` (empty: no longer)."""
        w = self.watch.get(key)
        if (w.get(broker) if w is not None else None) == (emas or None):
            return
        if emas:
            self.watch.setdefault(key, {})[broker] = emas
        elif w is not None:
            w.pop(broker, None)
            if not w:
                del self.watch[key]
        self._tight.pop(key, None)

    def drop_watch(self, key: tuple[Any, ...], broker: tuple[Any, ...]) -> None:
        self.set_watch(key, broker, ())

    def beyond(self, key: tuple[Any, ...], vals: Sequence[float]) -> bool:
        """Whether the flow ``vals`` is beyond the tightest limit some watcher of ``key``
        set (then the watchers are looked at one by one)."""
        t = self._tight.get(key)
        if t is None:
            t = [math.inf] * 4
            for emas in self.watch.get(key, {}).values():
                for e in emas:
                    j = (0 if e.metric == DD else 2) + (0 if e.kind > 0 else 1)
                    t[j] = min(t[j], e.limit)
            self._tight[key] = t
        return vals[DD] > t[0] or vals[DD] < -t[1] or vals[WV] > t[2] or vals[WV] < -t[3]

    def ema_body(self, key: tuple[Any, ...]) -> list[Any]:
        return [self.emas.get(key), self.breaches.get(key)]

    def ema_from(self, key: tuple[Any, ...], body: list[Any]) -> None:
        v, b = body
        if v is not None:
            self.emas[key] = [float(x) for x in v]
        if b is not None:
            self.breaches[key] = (str(b[0]), str(b[1]), int(b[2]))

    # ---------------------------------------------------------------- journal
    def journal_rows(self) -> list[tuple[str, str, bytes]]:
        """Journal rows of the symbol/expiry/account counters and EMA flows in ``dirty``
        (``rsym``, ``rexp``, ``racc``, ``rema``; the caller clears ``dirty``)."""
        rows = []
        for kind, key in self.dirty:
            jk = orjson.dumps(_scope_json(key)).decode()
            if kind == "ema":
                rows.append(("rema", jk, orjson.dumps(self.ema_body(key))))
            else:
                c = self._tables[kind][key]
                rows.append(("r" + kind, jk, orjson.dumps(c.body())))
        return rows

    def restore(self, items: Callable[[str], Iterable[tuple[str, bytes]]]) -> None:
        """Take back the rows of ``journal_rows`` and the group controls' limits (``gclim``:
        key [accnt, firm, riskGroupId], body the applied fields) from a journal's ``items``."""
        for kind, table in self._tables.items():
            for k, body in items("r" + kind):
                table[_scope_key(orjson.loads(k))] = Counter.from_body(orjson.loads(body))
        for k, body in items("rema"):
            self.ema_from(_scope_key(orjson.loads(k)), orjson.loads(body))
        for k, body in items("gclim"):
            a, f, g = orjson.loads(k)
            lims = orjson.loads(body)
            if lims:
                self.controls[(a, f, int(g))] = lims


def _scope_json(key: tuple[Any, ...]) -> list[Any]:
    """A counter or EMA key as JSON: tuples (TickerKey, ExpiryKey) as lists."""
    return [list(x) if isinstance(x, tuple) else x for x in key]


def _scope_key(parts: list[Any]) -> tuple[Any, ...]:
    """``_scope_json`` back: a 3-part list is a TickerKey, a 4-part one an ExpiryKey."""
    return tuple((TickerKey(*x) if len(x) == 3 else ExpiryKey(*x)) if isinstance(x, list) else x
                 for x in parts)
