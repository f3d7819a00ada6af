#!/usr/bin/env python3
"""difftest.py - runs random programs through luaio and CPython's asyncio and
compares what they print.

Each seed makes one program, written twice: as Lua for luaio and as Python
for asyncio. The programs use only bare yields (sleep(0)) and events set by
a task that yields, so their output depends on scheduling order alone, never
on time: tasks spawn children, await them, cancel any task, gather, wait,
as_completed, wait_for, shield, run TaskGroups and timeout scopes, take
cancellations back, fail, and print what they see. Their
awaits form a tree, so a program always ends.

The reference is CPython 3.13. With an older Python, the constructs whose
behaviour changed since (gather of finished children and wait_for in 3.12,
TaskGroup cancellation and uncancel in 3.13) are left out unless --with
names them.

  test/difftest.py [--seeds N] [--start S] [--luaio build/luaio]
                   [--python python3] [--keep DIR] [--with gather,...]

A seed whose outputs differ is written to DIR (default build/difftest) as
<seed>.lua, <seed>.py and their outputs; the exit status is 1 if any did.
"""

import argparse
import os
import random
import subprocess
import sys

# The constructs whose behaviour changed after 3.11, and since when.
OPS_CHANGED = {"gather": (3, 12), "wait_for": (3, 12), "group": (3, 13),
               "uncancel": (3, 13)}

PY_PRELUDE = '''\
import asyncio
import sys

T = {}
E = []


def say(*words):
    print(" ".join(str(w) for w in words), flush=True)


def fmt(x):
    if isinstance(x, asyncio.CancelledError):
        return "cancelled"
    if isinstance(x, BaseException):
        return "err:" + str(x)
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)


def name_of(t):
    for k, v in T.items():
        if v is t:
            return "t%d" % k
    return "?"


async def guard(n, what, aw):
    try:
        return True, await aw
    except asyncio.CancelledError:
        say(n, what, "cancelled")
        if asyncio.current_task().cancelling():
            raise
    except Exception as e:
        say(n, what, "error", fmt(e))
    return False, None


# Futures done at once come out of as_completed in no set order, so the
# outcomes are printed sorted.
async def ac_loop(n, aws):
    got = []
    try:
        for f in asyncio.as_completed(aws):
            try:
                got.append(fmt(await f))
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise
                got.append("cancelled")
            except Exception as e:
                got.append(fmt(e))
    finally:
        say(n, "next", *sorted(got))


async def setter(delays):
    for i, d in enumerate(delays):
        for _ in range(d):
            await asyncio.sleep(0)
        E[i].set()
'''

LUA_PRELUDE = '''\
local asyncio = require "asyncio"

local T, E, f = {}, {}, {}

local function say(...)
  local w = table.pack(...)
  for i = 1, w.n do w[i] = tostring(w[i]) end
  print(table.concat(w, " "))
end

local function fmt(x)
  if asyncio.CancelledError:is(x) then return "cancelled" end
  if asyncio.iserror(x) then return "err:" .. tostring(x) end
  return tostring(x)
end

local function name_of(t)
  for k, v in pairs(T) do
    if v == t then return "t" .. k end
  end
  return "?"
end

local function guard(n, what, fn, ...)
  local r = table.pack(pcall(fn, ...))
  if r[1] then return true, table.unpack(r, 2, r.n) end
  local e = r[2]
  if asyncio.CancelledError:is(e) then
    say(n, what, "cancelled")
    if asyncio.current_task():cancelling() > 0 then error(e, 0) end
  else
    say(n, what, "error", fmt(e))
  end
  return false
end

local function ac_loop(n, aws)
  local got = {}
  local ok, err = pcall(function()
    for fut in asyncio.as_completed(aws) do
      local done, v = pcall(asyncio.await, fut)
      if not done and asyncio.CancelledError:is(v)
         and asyncio.current_task():cancelling() > 0 then
        error(v, 0)
      end
      got[#got + 1] = fmt(v)
    end
  end)
  table.sort(got)
  say(n, "next", table.unpack(got))
  if not ok then error(err, 0) end
end

local function setter(delays)
  for i, d in ipairs(delays) do
    for _ = 1, d do asyncio.sleep(0) end
    E[i]:set()
  end
end
'''


class Gen:
    """Makes one program: bodies 0 (main) to n, each a list of statements."""

    def __init__(self, rng, ops):
        self.rng = rng
        self.ops = ops | {"wait", "as_completed"}
        self.nbodies = rng.randint(3, 9)
        self.nevents = rng.randint(0, 2)
        self.delays = [rng.randint(1, 4) for _ in range(self.nevents)]
        parents = {}
        for j in range(1, self.nbodies + 1):
            parents[j] = rng.randrange(0, j)
        self.children = {p: [j for j in parents if parents[j] == p]
                         for p in range(self.nbodies + 1)}
        self.bodies = {b: self.block(b, list(self.children[b]), [], 0)
                       for b in range(self.nbodies + 1)}

    def block(self, body, pending, known, depth):
        rng, ops = self.rng, self.ops
        known = list(known)
        stmts = []
        budget = rng.randint(1, 5)
        while budget > 0 or pending:
            budget -= 1
            choices = [("yield", 3), ("say", 1), ("cancel", 1)]
            if "uncancel" in ops:
                choices += [("uncancel", 0.5)]
            if depth < 2:
                choices += [("timeout", 0.5)]
            if pending:
                choices += [("spawn", 4)]
                if "group" in ops and depth < 2:
                    choices += [("group", 1)]
            if known:
                choices += [("await", 2), ("shield", 1)]
                for op in ("gather", "wait", "as_completed", "wait_for"):
                    if op in ops:
                        choices += [(op, 1)]
            if self.nevents:
                choices += [("event", 1)]
            if body != 0 and not pending:
                choices += [("fail", 0.3)]
            op = rng.choices([c[0] for c in choices],
                             [c[1] for c in choices])[0]
            if op == "yield":
                stmts.append(("yield", rng.randint(1, 3)))
            elif op == "say":
                stmts.append(("say", "s%d" % rng.randint(0, 9)))
            elif op == "cancel":
                # Any task, the body's own included (main is not one).
                stmts.append(("cancel", rng.randint(1, self.nbodies)))
            elif op == "spawn":
                j = pending.pop(0)
                stmts.append(("spawn", j))
                known.append(j)
            elif op == "group":
                k = rng.randint(1, len(pending))
                mine, pending = pending[:k], pending[k:]
                inner = self.block(body, [], known, depth + 1)
                spawns = [("gspawn", j) for j in mine]
                stmts.append(("group", spawns + inner))
                known.extend(mine)
            elif op == "uncancel":
                stmts.append(("uncancel",))
            elif op == "timeout":
                stmts.append(("timeout", self.block(body, [], known,
                                                    depth + 1)))
            elif op in ("await", "shield", "wait_for"):
                stmts.append((op, rng.choice(known)))
            elif op in ("gather", "wait", "as_completed"):
                js = [rng.choice(known) for _ in range(rng.randint(1, 3))]
                if op == "gather":
                    stmts.append((op, js, rng.random() < 0.5))
                elif op == "wait":
                    stmts.append((op, sorted(set(js)), rng.choice(
                        ["ALL_COMPLETED", "FIRST_COMPLETED",
                         "FIRST_EXCEPTION"])))
                else:
                    stmts.append((op, sorted(set(js))))
            elif op == "event":
                stmts.append(("event", rng.randrange(self.nevents)))
            elif op == "fail":
                stmts.append(("fail", "b%d-%d" % (body, len(stmts))))
                break
        return stmts

    # {==================================================================
    # Python
    # ==================================================================

    def py_block(self, body, stmts, ind, out):
        n = '"b%d"' % body
        pad = "    " * ind
        if not stmts:
            out.append(pad + "pass")
        for s in stmts:
            op = s[0]
            if op == "yield":
                out.append(pad + "for _ in range(%d):" % s[1])
                out.append(pad + "    await asyncio.sleep(0)")
            elif op == "say":
                out.append(pad + 'say(%s, "%s")' % (n, s[1]))
            elif op == "cancel":
                out.append(pad + "if %d in T:" % s[1])
                out.append(pad + '    say(%s, "cancel", "t%d", '
                           'fmt(T[%d].cancel()))' % (n, s[1], s[1]))
            elif op == "spawn":
                out.append(pad + "T[%d] = asyncio.create_task(f%d())"
                           % (s[1], s[1]))
            elif op == "gspawn":
                out.append(pad + "T[%d] = tg.create_task(f%d())"
                           % (s[1], s[1]))
            elif op == "await":
                out.append(pad + 'ok, v = await guard(%s, "await t%d", T[%d])'
                           % (n, s[1], s[1]))
                out.append(pad + 'if ok: say(%s, "got", fmt(v))' % n)
            elif op == "wait_for":
                out.append(pad + 'ok, v = await guard(%s, "wait_for t%d", '
                           'asyncio.wait_for(T[%d], 100))'
                           % (n, s[1], s[1]))
                out.append(pad + 'if ok: say(%s, "got", fmt(v))' % n)
            elif op == "uncancel":
                out.append(pad + 'say(%s, "uncancel", '
                           'asyncio.current_task().uncancel())' % n)
            elif op == "timeout":
                out.append(pad + "async with asyncio.timeout(100):")
                self.py_block(body, s[1], ind + 1, out)
            elif op == "shield":
                out.append(pad + 'ok, v = await guard(%s, "shield t%d", '
                           'asyncio.shield(T[%d]))' % (n, s[1], s[1]))
                out.append(pad + 'if ok: say(%s, "shielded", fmt(v))' % n)
            elif op == "gather":
                aws = ", ".join("T[%d]" % j for j in s[1])
                out.append(pad + 'ok, r = await guard(%s, "gather", '
                           'asyncio.gather(%s, return_exceptions=%s))'
                           % (n, aws, s[2]))
                out.append(pad + 'if ok: say(%s, "gathered", '
                           '*[fmt(x) for x in r])' % n)
            elif op == "wait":
                aws = ", ".join("T[%d]" % j for j in s[1])
                out.append(pad + 'ok, r = await guard(%s, "wait", '
                           'asyncio.wait([%s], return_when=asyncio.%s))'
                           % (n, aws, s[2]))
                out.append(pad + "if ok:")
                out.append(pad + '    say(%s, "done", *sorted(map(name_of, '
                           'r[0])), "pending", *sorted(map(name_of, r[1])))'
                           % n)
            elif op == "as_completed":
                aws = ", ".join("T[%d]" % j for j in s[1])
                out.append(pad + 'await guard(%s, "as_completed", '
                           'ac_loop(%s, [%s]))' % (n, n, aws))
            elif op == "event":
                out.append(pad + 'ok, v = await guard(%s, "event %d", '
                           'E[%d].wait())' % (n, s[1], s[1]))
                out.append(pad + 'if ok: say(%s, "event", %d)' % (n, s[1]))
            elif op == "fail":
                out.append(pad + 'raise ValueError("%s")' % s[1])
            elif op == "group":
                out.append(pad + "try:")
                out.append(pad + "    async with asyncio.TaskGroup() as tg:")
                self.py_block(body, s[1], ind + 2, out)
                out.append(pad + "except* Exception as eg:")
                out.append(pad + '    say(%s, "group", *[fmt(e) for e in '
                           'eg.exceptions])' % n)
                out.append(pad + "else:")
                out.append(pad + '    say(%s, "group", "ok")' % n)

    def python(self):
        out = [PY_PRELUDE]
        for b in range(1, self.nbodies + 1):
            out.append("\nasync def f%d():" % b)
            self.py_block(b, self.bodies[b], 1, out)
            out.append('    return "v%d"' % b)
        out.append("\nasync def main():")
        out.append("    E.extend(asyncio.Event() for _ in range(%d))"
                   % self.nevents)
        out.append("    s = asyncio.create_task(setter(%r))" % self.delays)
        self.py_block(0, self.bodies[0], 1, out)
        out.append("    await s")
        out.append("    joined = set()")
        out.append("    while len(joined) < len(T):")
        out.append("        j = min(set(T) - joined)")
        out.append("        joined.add(j)")
        out.append('        ok, v = await guard("main", "final t%d" % j, '
                   'T[j])')
        out.append('        if ok: say("main", "final", "t%d" % j, fmt(v))')
        out.append("\nasyncio.run(main())")
        return "\n".join(out) + "\n"

    # }==================================================================

    # {==================================================================
    # Lua
    # ==================================================================

    def lua_block(self, body, stmts, ind, out):
        n = '"b%d"' % body
        pad = "  " * ind
        for s in stmts:
            op = s[0]
            if op == "yield":
                out.append(pad + "for _ = 1, %d do asyncio.sleep(0) end"
                           % s[1])
            elif op == "say":
                out.append(pad + 'say(%s, "%s")' % (n, s[1]))
            elif op == "cancel":
                out.append(pad + "if T[%d] then say(%s, \"cancel\", \"t%d\", "
                           "fmt(T[%d]:cancel())) end"
                           % (s[1], n, s[1], s[1]))
            elif op == "spawn":
                out.append(pad + "T[%d] = asyncio.create_task(f[%d])"
                           % (s[1], s[1]))
            elif op == "gspawn":
                out.append(pad + "T[%d] = tg:create_task(f[%d])"
                           % (s[1], s[1]))
            elif op == "await":
                out.append(pad + 'do local ok, v = guard(%s, "await t%d", '
                           'asyncio.await, T[%d])' % (n, s[1], s[1]))
                out.append(pad + '  if ok then say(%s, "got", fmt(v)) end '
                           'end' % n)
            elif op == "wait_for":
                out.append(pad + 'do local ok, v = guard(%s, "wait_for t%d", '
                           'asyncio.wait_for, T[%d], 100)' % (n, s[1], s[1]))
                out.append(pad + '  if ok then say(%s, "got", fmt(v)) end '
                           'end' % n)
            elif op == "uncancel":
                out.append(pad + 'say(%s, "uncancel", '
                           'asyncio.current_task():uncancel())' % n)
            elif op == "timeout":
                out.append(pad + "asyncio.timeout(100, function()")
                self.lua_block(body, s[1], ind + 1, out)
                out.append(pad + "end)")
            elif op == "shield":
                out.append(pad + 'do local ok, v = guard(%s, "shield t%d", '
                           'function() return asyncio.await('
                           'asyncio.shield(T[%d])) end)' % (n, s[1], s[1]))
                out.append(pad + '  if ok then say(%s, "shielded", fmt(v)) '
                           'end end' % n)
            elif op == "gather":
                aws = ", ".join("T[%d]" % j for j in s[1])
                out.append(pad + 'do local ok, r = guard(%s, "gather", '
                           'asyncio.gather, {%s, return_exceptions = %s})'
                           % (n, aws, "true" if s[2] else "false"))
                out.append(pad + "  if ok then local w = {} for i = 1, r.n "
                           "do w[i] = fmt(r[i]) end")
                out.append(pad + '    say(%s, "gathered", '
                           'table.unpack(w, 1, r.n)) end end' % n)
            elif op == "wait":
                aws = ", ".join("T[%d]" % j for j in s[1])
                out.append(pad + 'do local ok, d, p = guard(%s, "wait", '
                           'asyncio.wait, {%s}, {return_when = "%s"})'
                           % (n, aws, s[2]))
                out.append(pad + "  if ok then local w = {} for i, t in "
                           "ipairs(d) do w[i] = name_of(t) end "
                           "table.sort(w) w[#w + 1] = \"pending\"")
                out.append(pad + "    local q = {} for i, t in ipairs(p) do "
                           "q[i] = name_of(t) end table.sort(q) "
                           "for _, x in ipairs(q) do w[#w + 1] = x end")
                out.append(pad + '    say(%s, "done", table.unpack(w)) end end'
                           % n)
            elif op == "as_completed":
                aws = ", ".join("T[%d]" % j for j in s[1])
                out.append(pad + 'guard(%s, "as_completed", ac_loop, %s, {%s})'
                           % (n, n, aws))
            elif op == "event":
                out.append(pad + 'do local ok = guard(%s, "event %d", '
                           'function() return E[%d]:wait() end)'
                           % (n, s[1], s[1] + 1))
                out.append(pad + '  if ok then say(%s, "event", %d) end end'
                           % (n, s[1]))
            elif op == "fail":
                out.append(pad + 'error("%s", 0)' % s[1])
            elif op == "group":
                out.append(pad + "do local ok, eg = pcall(asyncio.TaskGroup, "
                           "function(tg)")
                self.lua_block(body, s[1], ind + 2, out)
                out.append(pad + "  end)")
                out.append(pad + '  if ok then say(%s, "group", "ok")' % n)
                out.append(pad + "  elseif asyncio.ExceptionGroup:is(eg) then"
                           " local w = {}")
                out.append(pad + "    for i, e in ipairs(eg.errors) do "
                           "w[i] = fmt(e) end")
                out.append(pad + '    say(%s, "group", table.unpack(w))'
                           % n)
                out.append(pad + "  else error(eg, 0) end end")

    def lua(self):
        out = [LUA_PRELUDE]
        for b in range(1, self.nbodies + 1):
            out.append("\nf[%d] = function()" % b)
            self.lua_block(b, self.bodies[b], 1, out)
            out.append('  return "v%d"' % b)
            out.append("end")
        out.append("\nasyncio.run(function()")
        out.append("  for i = 1, %d do E[i] = asyncio.Event() end"
                   % self.nevents)
        out.append("  local s = asyncio.create_task(function() "
                   "setter({%s}) end)" % ", ".join(map(str, self.delays)))
        self.lua_block(0, self.bodies[0], 1, out)
        out.append("  asyncio.await(s)")
        out.append("  local joined = {}")
        out.append("  while true do")
        out.append("    local j")
        out.append("    for k = %d, 1, -1 do" % self.nbodies)
        out.append("      if T[k] and not joined[k] then j = k end")
        out.append("    end")
        out.append("    if j == nil then break end")
        out.append("    joined[j] = true")
        out.append('    local ok, v = guard("main", "final t" .. j, '
                   'asyncio.await, T[j])')
        out.append('    if ok then say("main", "final", "t" .. j, fmt(v)) '
                   'end')
        out.append("  end")
        out.append("end)")
        return "\n".join(out) + "\n"

    # }==================================================================


def run(cmd, path, timeout):
    try:
        p = subprocess.run(cmd + [path], capture_output=True, text=True,
                           timeout=timeout)
        return p.stdout + ("" if p.returncode == 0
                           else "[exit %d]\n" % p.returncode)
    except subprocess.TimeoutExpired as e:
        out = e.stdout or b""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        return out + "[timed out]\n"


def python_version(python):
    out = subprocess.run([python, "-c", "import sys; "
                          "print(*sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout
    return tuple(int(x) for x in out.split())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--start", type=int, default=1)
    ap.add_argument("--luaio", default="build/luaio")
    ap.add_argument("--python", default="python3")
    ap.add_argument("--keep", default="build/difftest")
    ap.add_argument("--with", dest="with_", default="",
                    help="constructs to use even with an older Python")
    ap.add_argument("--timeout", type=float, default=10)
    args = ap.parse_args()

    version = python_version(args.python)
    ops = set(OPS_CHANGED)
    forced = set(filter(None, args.with_.split(",")))
    for op, since in OPS_CHANGED.items():
        if version < since and op not in forced:
            ops.discard(op)
            print("difftest: Python %d.%d: leaving out %s (changed in %d.%d)"
                  % (version + (op,) + since), file=sys.stderr)

    os.makedirs(args.keep, exist_ok=True)
    bad = 0
    for seed in range(args.start, args.start + args.seeds):
        gen = Gen(random.Random(seed), ops)
        py, lua = gen.python(), gen.lua()
        base = os.path.join(args.keep, str(seed))
        with open(base + ".py", "w") as fh:
            fh.write(py)
        with open(base + ".lua", "w") as fh:
            fh.write(lua)
        want = run([args.python], base + ".py", args.timeout)
        got = run([args.luaio], base + ".lua", args.timeout)
        if want == got:
            for ext in (".py", ".lua"):
                os.remove(base + ext)
            continue
        bad += 1
        with open(base + ".py.out", "w") as fh:
            fh.write(want)
        with open(base + ".lua.out", "w") as fh:
            fh.write(got)
        print("seed %d differs: %s.{lua,py}{,.out}" % (seed, base))
    print("difftest: %d of %d seeds differ" % (bad, args.seeds))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
