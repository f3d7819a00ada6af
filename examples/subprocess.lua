-- Subprocesses: run programs, feed them input, read what they print.
local asyncio = require "asyncio"

asyncio.run(function()
  -- Capture a program's output.
  local echo = asyncio.create_subprocess_exec("echo", { "hello", "from echo" },
                                              { stdout = asyncio.PIPE })
  local out = echo:communicate()
  io.write("echo said: ", out)
  print("echo exited with", echo.returncode)

  -- Feed input and read the result: tr upper-cases it.
  local tr = asyncio.create_subprocess_exec("tr", { "a-z", "A-Z" },
                                            { stdin = asyncio.PIPE, stdout = asyncio.PIPE })
  out = tr:communicate("shout this\n")
  io.write("tr said: ", out)

  -- A pipeline-ish run: sort's output goes through a shell pipe, stderr apart.
  local sh = asyncio.create_subprocess_shell("sort | uniq -c | sed 's/^ *//'; echo done >&2",
                                             { stdin = asyncio.PIPE, stdout = asyncio.PIPE,
                                               stderr = asyncio.PIPE })
  local counted, err = sh:communicate("pear\napple\npear\nfig\npear\n")
  io.write(counted)
  io.write("stderr: ", err)

  -- Line by line, while the child is still running.
  local seq = asyncio.create_subprocess_exec("seq", { "3" }, { stdout = asyncio.PIPE })
  while true do
    local line = seq.stdout:readline()
    if line == "" then break end
    io.write("line ", line)
  end
  print("seq exited with", seq:wait())

  -- Exit codes and signals.
  print("exit code:", asyncio.create_subprocess_shell("exit 7"):wait())
  local sleeper = asyncio.create_subprocess_exec("sleep", { "10" })
  sleeper:terminate()
  print("terminated:", sleeper:wait())
end)
