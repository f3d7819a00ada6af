-- Computes a checksum over many generated strings twice: serially on the loop
-- thread, then split into chunks that run in parallel with asyncio.to_thread,
-- each chunk in a worker thread with its own Lua state. Both must agree.
local asyncio = require "asyncio"

local NSTRINGS = 20000
local NCHUNKS = 4

-- Runs in the workers: it may use globals (string, math) and its arguments,
-- but no local variables of this script, so everything it needs is passed in.
-- Returns the checksum of strings first..last (Adler-32 of each, summed).
local function checksum_range(first, last)
  local total = 0
  for i = first, last do
    local s = string.rep(string.format("item-%d;", i), 1 + i % 7)
    local a, b = 1, 0
    for k = 1, #s do
      a = (a + s:byte(k)) % 65521
      b = (b + a) % 65521
    end
    total = (total + (b << 16 | a)) % (1 << 53)
  end
  return total, last - first + 1
end

asyncio.run(function()
  local serial = checksum_range(1, NSTRINGS)

  local per_chunk = NSTRINGS // NCHUNKS
  local jobs = {}
  for c = 1, NCHUNKS do
    local first = (c - 1) * per_chunk + 1
    local last = c == NCHUNKS and NSTRINGS or c * per_chunk
    jobs[c] = function()
      return table.pack(asyncio.to_thread(checksum_range, first, last))
    end
  end
  local results = asyncio.gather(table.unpack(jobs))

  local threaded, counted = 0, 0
  for c = 1, NCHUNKS do
    local sum, n = results[c][1], results[c][2]
    print(string.format("chunk %d: %d strings", c, n))
    threaded = (threaded + sum) % (1 << 53)
    counted = counted + n
  end
  print(string.format("strings: %d serial, %d in %d threads", NSTRINGS,
                      counted, NCHUNKS))
  print("checksums agree: " .. tostring(serial == threaded))
  print(string.format("checksum: %d", serial))
end)
