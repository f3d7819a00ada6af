---@meta asyncio
-- asyncio.lua - type definitions of the asyncio module for the Lua language
-- server (LuaLS): `require "asyncio"` completes and checks with them. Point
-- `Lua.workspace.library` at this directory's parent's `library` folder.
--
-- spec/types_spec.lua walks this file and the module: every public name of
-- the module, of asyncio.fs, of the error classes and of every class's
-- methods needs a definition here, and every function, method and module
-- field defined here must exist. Its conventions: module functions are
-- `function asyncio.name(...) end`; a class is `---@class asyncio.Name`
-- (with `: asyncio.Base` when it inherits), bound to the next line's
-- `local Name = {}` or `asyncio.Name = {}`; its methods are
-- `function Name:method(...) end`; its data is `---@field`.

local asyncio = {}

---The version of luaio, as "major.minor.patch" (luaio_version_string()).
---@type string
asyncio._VERSION = "0.0.0"

-- {====================================================================
-- Running, tasks and awaiting
-- =====================================================================

---An awaitable: a coroutine object, a Task or a Future.
---@alias asyncio.Awaitable asyncio.Coroutine|asyncio.Future

---What runs as a task: an awaitable, or a function called with no
---arguments.
---@alias asyncio.Runnable asyncio.Awaitable|fun(): ...

---Runs `main` as the main task of a new event loop and returns its values
---(or raises its error). On exit the tasks left are cancelled and the loop
---is closed. Raises if a loop is already running in this thread. A last
---argument `{clock = ...}` (a table whose keys are all option names) is
---the options, not an argument for `main`.
---@param main asyncio.Coroutine|fun(...): ...
---@param ... any arguments for `main`, then the options
---@return any ...
function asyncio.run(main, ...) end

---@class asyncio.RunOptions
---@field clock? "real"|"manual"|"virtual"|asyncio.Clock the loop's clock
---@field slice? number seconds a task may run without suspending (0: off)
---@field slice_warning? number seconds after which such a task is reported
---@field debug? boolean debug mode for this run (slow steps, unclosed resources)

---Makes a clock for `asyncio.run(main, {clock = c})`: "virtual" (the
---default) jumps to the next deadline once nothing else can happen;
---"manual" moves only by `c:jump(s)`. Both start at 0 and keep their time
---between runs.
---@param kind? "manual"|"virtual"
---@param opts? {rate?: number, autojump_threshold?: number}
---@return asyncio.Clock
function asyncio.Clock(kind, opts) end

---Makes an async function: calling it returns a coroutine object that has
---not started, to await or to run as a task.
---@param fn fun(...): ...
---@return fun(...): asyncio.Coroutine
function asyncio.async(fn) end

---Suspends the current task until `aw` is done; returns all its values or
---raises its error. A coroutine object runs inside the current task.
---@param aw asyncio.Awaitable
---@return any ...
function asyncio.await(aw) end

---Options of create_task.
---@class asyncio.TaskOptions
---@field name? string the task's name
---@field eager? boolean start running at once, before create_task returns
---@field preempt? boolean paused at the loop's slice, not failed

---Wraps `aw` in a Task scheduled to run soon.
---@param aw asyncio.Coroutine|fun(): ...
---@param opts? asyncio.TaskOptions
---@return asyncio.Task
function asyncio.create_task(aw, opts) end

---Suspends the current task for `delay` seconds (0: yields once to the
---loop) and returns `result`.
---@generic T
---@param delay number
---@param result? T
---@return T
function asyncio.sleep(delay, result) end

---The running task, or nil outside a task.
---@return asyncio.Task?
function asyncio.current_task() end

---The unfinished tasks of the running loop.
---@return asyncio.Task[]
function asyncio.all_tasks() end

---The running event loop; raises outside one.
---@return asyncio.Loop
function asyncio.get_running_loop() end

---A frame of a call graph's call stack.
---@class asyncio.CallGraphFrame
---@field source string the chunk, as tracebacks name it
---@field line? integer the current line; nil in a C function
---@field name? string the function's name, when known
---@field what string "Lua", "C" or "main"
---@field text string the frame as a traceback writes it

---Who waits for a future (Python 3.14's FutureCallGraph).
---@class asyncio.CallGraph
---@field future asyncio.Future the task or future
---@field call_stack asyncio.CallGraphFrame[] where its task is, innermost first
---@field awaited_by asyncio.CallGraph[] the tasks waiting for it
---@field via? string how this task waits for the one it is listed under: "await", "gather", "shield", "wait", "TaskGroup"
---@field cycle? boolean it waits for a task it is listed under (not followed)

---Options of the call graph functions.
---@class asyncio.CallGraphOptions
---@field depth? integer the current task's first frame (1, the default: the caller)
---@field limit? integer frames kept per task: the innermost when positive, the outermost when negative
---@field file? file* where print_call_graph writes (a value with a write method; default stdout)

---The call graph of a task or future (default: the current task; nil
---where no task runs).
---@param future? asyncio.Future
---@param opts? asyncio.CallGraphOptions
---@return asyncio.CallGraph?
function asyncio.capture_call_graph(future, opts) end

---The call graph of a task or future as text, as print_call_graph writes it.
---@param future? asyncio.Future
---@param opts? asyncio.CallGraphOptions
---@return string?
function asyncio.format_call_graph(future, opts) end

---Writes the call graph of a task or future (default: the current task).
---@param future? asyncio.Future
---@param opts? asyncio.CallGraphOptions
function asyncio.print_call_graph(future, opts) end

---Makes a Future of the running loop.
---@return asyncio.Future
function asyncio.Future() end

-- }====================================================================

-- {====================================================================
-- Running many at once
-- =====================================================================

---Runs the awaitables concurrently and returns their first values in
---input order (`.n` holds the count, so nil results keep their slot). The
---first error propagates at once; cancelling the caller cancels them all.
---Also `gather(list)` and `gather{a, b, return_exceptions = true}`, where
---errors are returned in their slots.
---@param ... asyncio.Runnable|table
---@return table results
function asyncio.gather(...) end

---Options of wait.
---@class asyncio.WaitOptions
---@field timeout? number seconds before returning with what is done
---@field return_when? "ALL_COMPLETED"|"FIRST_COMPLETED"|"FIRST_EXCEPTION"

---Waits for the awaitables without raising their errors; returns the list
---of those done and the list of those pending.
---@param list asyncio.Runnable[]
---@param opts? asyncio.WaitOptions
---@return asyncio.Future[] done
---@return asyncio.Future[] pending
function asyncio.wait(list, opts) end

---An iterator for a generic `for` over the awaitables in the order they
---finish; `asyncio.await(x)` gives each one's value or raises its error.
---Raises TimeoutError when `opts.timeout` passes.
---@param list asyncio.Runnable[]
---@param opts? { timeout?: number }
---@return fun(): asyncio.Awaitable?
function asyncio.as_completed(list, opts) end

---The values of `aw`, or TimeoutError after `timeout` seconds, once `aw`
---was cancelled and has finished; nil waits for ever.
---@param aw asyncio.Runnable
---@param timeout number?
---@return any ...
function asyncio.wait_for(aw, timeout) end

---Runs `fn(...)` in the current task with a deadline `delay` seconds away
---(nil: none); past it `fn` is cancelled and TimeoutError raised here.
---@param delay number?
---@param fn fun(...): ...
---@param ... any
---@return any ...
function asyncio.timeout(delay, fn, ...) end

---timeout() with a deadline in the loop's time (loop:time()).
---@param when number?
---@param fn fun(...): ...
---@param ... any
---@return any ...
function asyncio.timeout_at(when, fn, ...) end

---An awaitable whose cancellation does not cancel `aw`.
---@param aw asyncio.Runnable
---@return asyncio.Future
function asyncio.shield(aw) end

---Runs `body(tg)`; `tg:create_task` starts children. Returns the body's
---values once every child has finished; the first failure cancels the
---rest and raises an ExceptionGroup of every failure.
---@param body fun(tg: asyncio.TaskGroup): ...
---@return any ...
function asyncio.TaskGroup(body) end

---A new scope, owned by the running code's scope when there is one: what
---code of the scope makes, directly or through its tasks, belongs to it.
---@return asyncio.Scope
function asyncio.Scope() end

---The scope of the running code, or nil.
---@return asyncio.Scope?
function asyncio.current_scope() end

---Runs `fn(...)` on a worker thread in a Lua state of its own: `fn` may
---use that state's globals but no upvalues; arguments and results are
---copied (nil, booleans, numbers, strings, tables of those).
---@param fn fun(...): ...
---@param ... any
---@return any ...
function asyncio.to_thread(fn, ...) end

-- }====================================================================

-- {====================================================================
-- Queues and synchronisation
-- =====================================================================

---A FIFO queue; `maxsize` 0 or nil means unbounded. Any value may be an
---item, nil included.
---@param maxsize? integer
---@return asyncio.Queue
function asyncio.Queue(maxsize) end

---A queue that gives the last item put first.
---@param maxsize? integer
---@return asyncio.LifoQueue
function asyncio.LifoQueue(maxsize) end

---A queue that gives the smallest item first: numbers or strings compare
---with <, {priority, item} pairs by their first field; ties keep order.
---@param maxsize? integer
---@return asyncio.PriorityQueue
function asyncio.PriorityQueue(maxsize) end

---@return asyncio.Event
function asyncio.Event() end

---@return asyncio.Lock
function asyncio.Lock() end

---@param value? integer the initial count (1)
---@return asyncio.Semaphore
function asyncio.Semaphore(value) end

---A Semaphore that raises when released more often than acquired.
---@param value? integer the initial count (1)
---@return asyncio.BoundedSemaphore
function asyncio.BoundedSemaphore(value) end

---@param lock? asyncio.Lock the lock to share (a new one by default)
---@return asyncio.Condition
function asyncio.Condition(lock) end

---@param parties integer how many tasks wait() lets through together
---@return asyncio.Barrier
function asyncio.Barrier(parties) end

-- }====================================================================

-- {====================================================================
-- Errors
-- =====================================================================

---True for any error value made or carried by the runtime.
---@param v any
---@return boolean
function asyncio.iserror(v) end

---The base of asyncio's errors. `Class(msg [, fields])` makes one,
---`Class:is(v)` tests one; `tostring(err)` is the message.
---@class asyncio.Error
---@field message string the message, as raised
---@field traceback? string where it was raised, once it left a task
---@field name string the class's name, as "TimeoutError"
---@field default_message string the message when none is given
---@field super? asyncio.Error the base class (nil for Error)
---@overload fun(msg?: string, fields?: table): asyncio.Error
asyncio.Error = {}

---True when `v` is an error of this class or of a subclass.
---@param v any
---@return boolean
function asyncio.Error:is(v) end

---Makes an error of this class, as calling the class does.
---@param msg? string
---@param fields? table more fields for the error
---@return asyncio.Error
function asyncio.Error:new(msg, fields) end

---Raised at a cancelled task's suspension point.
---@class asyncio.CancelledError : asyncio.Error
asyncio.CancelledError = {}

---A deadline passed (wait_for, timeout, as_completed).
---@class asyncio.TimeoutError : asyncio.Error
asyncio.TimeoutError = {}

---The object is not in a state for this call (the result of a pending
---future, a second set_result).
---@class asyncio.InvalidStateError : asyncio.Error
asyncio.InvalidStateError = {}

---get_nowait on an empty queue.
---@class asyncio.QueueEmpty : asyncio.Error
asyncio.QueueEmpty = {}

---put_nowait on a full queue.
---@class asyncio.QueueFull : asyncio.Error
asyncio.QueueFull = {}

---put, or get once drained, on a queue that was shut down.
---@class asyncio.QueueShutDown : asyncio.Error
asyncio.QueueShutDown = {}

---Several errors at once, as a TaskGroup raises them.
---@class asyncio.ExceptionGroup : asyncio.Error
---@field errors any[] every error, in the order they happened
asyncio.ExceptionGroup = {}

---A barrier was aborted or reset while tasks waited.
---@class asyncio.BrokenBarrierError : asyncio.Error
asyncio.BrokenBarrierError = {}

---The stream ended before readexactly or readuntil could finish.
---@class asyncio.IncompleteReadError : asyncio.Error
---@field partial string the bytes read before the end
---@field expected? integer the bytes asked for (nil for readuntil)
asyncio.IncompleteReadError = {}

---readuntil found no separator within the reader's limit.
---@class asyncio.LimitOverrunError : asyncio.Error
---@field consumed integer the bytes to consume to get past the limit
asyncio.LimitOverrunError = {}

---A task ran past the loop's slice without suspending.
---@class asyncio.SliceError : asyncio.Error
asyncio.SliceError = {}

-- }====================================================================

-- {====================================================================
-- Streams, subprocesses, files and names
-- =====================================================================

---Options of open_connection.
---@class asyncio.ConnectionOptions
---@field timeout? number seconds for the connection to be made
---@field limit? integer the reader's buffer limit in bytes
---@field ssl? boolean|asyncio.SSLContext TLS: true for a default context
---@field server_hostname? string the name sent and checked (else host)
---@field ssl_handshake_timeout? number seconds for the handshake (60)

---Connects to host:port over TCP.
---@param host string
---@param port integer|string
---@param opts? asyncio.ConnectionOptions
---@return asyncio.StreamReader reader
---@return asyncio.StreamWriter writer
function asyncio.open_connection(host, port, opts) end

---Options of start_server.
---@class asyncio.ServerOptions
---@field backlog? integer the listen queue's length (100)
---@field limit? integer each reader's buffer limit in bytes
---@field start_serving? boolean accept at once (true)
---@field reuse_port? boolean set SO_REUSEPORT: processes share the port
---@field ssl? asyncio.SSLContext TLS, with a server context
---@field ssl_handshake_timeout? number seconds for each handshake (60)

---Listens on every address `host` resolves to (nil: all of the machine's)
---and runs `handler(reader, writer)` as a task per connection; port 0
---takes a free port, which server:port() tells.
---@param handler fun(reader: asyncio.StreamReader, writer: asyncio.StreamWriter)
---@param host string?
---@param port integer|string
---@param opts? asyncio.ServerOptions
---@return asyncio.Server
function asyncio.start_server(handler, host, port, opts) end

---Connects to the Unix-domain socket at path.
---@param path string
---@param opts? asyncio.ConnectionOptions
---@return asyncio.StreamReader reader
---@return asyncio.StreamWriter writer
function asyncio.open_unix_connection(path, opts) end

---Serves connections to a Unix-domain socket made at path (a socket file
---already there is replaced; closing the server removes it).
---@param handler fun(reader: asyncio.StreamReader, writer: asyncio.StreamWriter)
---@param path string
---@param opts? asyncio.ServerOptions
---@return asyncio.Server
function asyncio.start_unix_server(handler, path, opts) end

---A reader fed by hand with feed_data and feed_eof.
---@param limit? integer the buffer limit in bytes
---@return asyncio.StreamReader
function asyncio.StreamReader(limit) end

---Debug aid: the bytes the running loop's streams hold in their own input
---buffers (0 when every stream is at rest), and in the buffers they share
---(at most 192 KiB, 0 once no stream is open).
---@return integer held
---@return integer shared
function asyncio._stream_memory() end

---One address that getaddrinfo found.
---@class asyncio.AddrInfo
---@field host string the numeric address
---@field port integer
---@field family "inet"|"inet6"

---Resolves host and port off the loop's thread.
---@param host string?
---@param port integer|string?
---@return asyncio.AddrInfo[]
function asyncio.getaddrinfo(host, port) end

---A UDP endpoint (see asyncio.open_datagram).
---@class asyncio.DatagramEndpoint
local DatagramEndpoint = {}

---Sends data to addr ({host, port}), or to the remote when connected.
---@param data string
---@param addr? {[1]: string, [2]: integer}
function DatagramEndpoint:sendto(data, addr) end

---Waits for a datagram.
---@return string data
---@return string host
---@return integer port
function DatagramEndpoint:recvfrom() end

---@return string host
---@return integer port
function DatagramEndpoint:getsockname() end

---The datagrams dropped because the receive queue was full.
---@return integer
function DatagramEndpoint:dropped() end

function DatagramEndpoint:close() end

---@return boolean
function DatagramEndpoint:is_closing() end

---Options of asyncio.open_datagram.
---@class asyncio.DatagramOptions
---@field broadcast? boolean SO_BROADCAST
---@field queue? integer datagrams waiting to be received (256)
---@field family? "inet"|"inet6" when neither address tells

---Opens a UDP endpoint bound to local and connected to remote (each a
---{host, port} table with a numeric host, or nil).
---@param local_addr? {[1]: string, [2]: integer}
---@param remote_addr? {[1]: string, [2]: integer}
---@param opts? asyncio.DatagramOptions
---@return asyncio.DatagramEndpoint
function asyncio.open_datagram(local_addr, remote_addr, opts) end

---A reader of the standard input (fd 0), whether a TTY, a pipe or a file;
---the same one each time while it is open.
---@return asyncio.StreamReader
function asyncio.stdin() end

---A writer of the standard output (fd 1); the same one each time while open.
---@return asyncio.StreamWriter
function asyncio.stdout() end

---A writer of the standard error (fd 2); the same one each time while open.
---@return asyncio.StreamWriter
function asyncio.stderr() end

---A reader of a copy of the descriptor fd (a TTY, a pipe, a socket or a file).
---@param fd integer
---@param opts? {limit?: integer}
---@return asyncio.StreamReader
function asyncio.connect_read_pipe(fd, opts) end

---A writer of a copy of the descriptor fd (a TTY, a pipe, a socket or a file).
---@param fd integer
---@return asyncio.StreamWriter
function asyncio.connect_write_pipe(fd) end

---For stdin, stdout or stderr of a subprocess: a pipe to the process.
---@type integer
asyncio.PIPE = -1

---For stdin, stdout or stderr of a subprocess: /dev/null.
---@type integer
asyncio.DEVNULL = -3

---For stderr of a subprocess only: wherever its stdout goes (its pipe,
---/dev/null or the parent's stdout).
---@type integer
asyncio.STDOUT = -2

---Options of the subprocess functions.
---@class asyncio.ProcessOptions
---@field stdin? integer asyncio.PIPE or asyncio.DEVNULL (inherited if nil)
---@field stdout? integer
---@field stderr? integer asyncio.PIPE, asyncio.DEVNULL or asyncio.STDOUT
---@field cwd? string the directory to run in
---@field env? table<string, string> the whole environment

---Starts `prog` with the arguments after it.
---@param prog string
---@param args? string[]
---@param opts? asyncio.ProcessOptions
---@return asyncio.Process
function asyncio.create_subprocess_exec(prog, args, opts) end

---Starts `/bin/sh -c cmd`.
---@param cmd string
---@param opts? asyncio.ProcessOptions
---@return asyncio.Process
function asyncio.create_subprocess_shell(cmd, opts) end

---Files, on libuv's thread pool: each function suspends the task, never
---the loop. Errors name the function and the path, with the errno name in
---`.code`.
---@class asyncio.fslib
asyncio.fs = {}

---The whole file.
---@param path string
---@return string
function asyncio.fs.read_file(path) end

---Writes `data` to the file, created or truncated; with `opts.atomic`
---through a temporary file renamed over it, so readers never see half.
---@param path string
---@param data string
---@param opts? { atomic?: boolean }
function asyncio.fs.write_file(path, data, opts) end

---Opens a file; `mode` as io.open's ("r", "w", "a", "x", with "+" and
---"b"), "r" by default.
---@param path string
---@param mode? string
---@return asyncio.File
function asyncio.fs.open(path, mode) end

---@class asyncio.Stat
---@field size integer
---@field type "file"|"directory"|"link"|"fifo"|"socket"|"char"|"block"|"other"
---@field mode integer the permission bits
---@field mtime number seconds since the epoch, as atime and ctime
---@field atime number
---@field ctime number
---@field nlink integer
---@field uid integer
---@field gid integer
---@field ino integer

---The file's metadata.
---@param path string
---@return asyncio.Stat
function asyncio.fs.stat(path) end

---The names in a directory, without "." and "..".
---@param path string
---@return string[]
function asyncio.fs.listdir(path) end

---Makes a directory; `opts.parents` makes the missing ones above too.
---@param path string
---@param opts? { parents?: boolean, mode?: integer }
function asyncio.fs.mkdir(path, opts) end

---Removes a file or an empty directory.
---@param path string
function asyncio.fs.remove(path) end

---@param from string
---@param to string
function asyncio.fs.rename(from, to) end

-- }====================================================================

-- {====================================================================
-- TLS (asyncio.ssl)
-- =====================================================================

---@class asyncio.ssllib
---@field available boolean whether luaio was built with TLS
asyncio.ssl = {}

---A context with asyncio's defaults: a client verifies the peer against
---the system's CA store (SSL_CERT_FILE, SSL_CERT_DIR) and checks its host
---name; TLS 1.2 at least.
---@param opts? { server?: boolean, cafile?: string, capath?: string, certfile?: string, keyfile?: string, verify?: boolean, check_hostname?: boolean, alpn_protocols?: string[] }
---@return asyncio.SSLContext
function asyncio.ssl.create_default_context(opts) end

---@class asyncio.SSLContext
local SSLContext = {}

---@param certfile string
---@param keyfile? string
function SSLContext:load_cert_chain(certfile, keyfile) end

---@param cafile? string
---@param capath? string
function SSLContext:load_verify_locations(cafile, capath) end

---The protocols ALPN offers (a client) or accepts (a server), by
---preference; get_extra_info("alpn_protocol") tells the one agreed.
---@param list string[]
function SSLContext:set_alpn_protocols(list) end

-- }====================================================================

-- {====================================================================
-- Memory (docs/sandbox.md)
-- =====================================================================

---The bytes this Lua state holds now, and its memory limit (nil: none).
---@return integer used
---@return integer? limit
function asyncio.memory() end

---Sets or lowers this state's memory limit; raising or removing it is for
---the host.
---@param bytes integer
function asyncio.set_memory_limit(bytes) end

-- }====================================================================

-- {====================================================================
-- Testing
-- =====================================================================

---The context a spec body receives.
---@class asyncio.SpecContext
---@field expect fun(fn?: function, n?: integer, name?: string): function wraps fn; the test fails unless the wrapper was called exactly n (1) times

---Turns `body` into a busted test case that runs it as the main task of a
---fresh loop, then fails if a task is unfinished or a handle open.
---@param body fun(t: asyncio.SpecContext)
---@return function
function asyncio.spec(body) end

-- }====================================================================

-- {====================================================================
-- Classes
-- =====================================================================

---A coroutine object: the call of an async function, not started yet.
---@class asyncio.Coroutine
local Coroutine = {}

---A result that will exist later: set once, awaited by any number of
---tasks.
---@class asyncio.Future
local Future = {}

---Resolves the future with these values.
---@param ... any
function Future:set_result(...) end

---Fails the future with `err`.
---@param err any
function Future:set_exception(err) end

---The values; raises the error, CancelledError, or InvalidStateError
---while pending.
---@return any ...
function Future:result() end

---The error, or nil; raises CancelledError when cancelled.
---@return any
function Future:exception() end

---@return boolean
function Future:done() end

---@return boolean
function Future:cancelled() end

---Cancels the future; false when it was already done.
---@param msg? string
---@return boolean
function Future:cancel(msg) end

---Calls `fn(future)` from the loop once the future is done.
---@param fn fun(fut: asyncio.Future)
function Future:add_done_callback(fn) end

---Removes every registration of `fn`; returns how many.
---@param fn function
---@return integer
function Future:remove_done_callback(fn) end

---A Future that drives a coroutine.
---@class asyncio.Task : asyncio.Future
local Task = {}

---@return string
function Task:get_name() end

---@param name string
function Task:set_name(name) end

---The number of cancellation requests not yet withdrawn by uncancel().
---@return integer
function Task:cancelling() end

---Withdraws one cancellation request; returns the count left.
---@return integer
function Task:uncancel() end

---Where the task is suspended, or where it failed.
---@return string
function Task:traceback() end

---The body's handle in asyncio.TaskGroup(function(tg) ... end).
---@class asyncio.TaskGroup
local TaskGroup = {}

---Starts a child task of the group.
---@param aw asyncio.Coroutine|fun(): ...
---@param opts? asyncio.TaskOptions
---@return asyncio.Task
function TaskGroup:create_task(aw, opts) end

---Owns the tasks, handles, done callbacks, servers, streams, endpoints,
---subprocesses and scopes made by its code (asyncio.Scope()).
---@class asyncio.Scope
local Scope = {}

---Runs `fn(...)` as a task of the scope.
---@param fn fun(...): ...
---@param ... any
---@return asyncio.Task
function Scope:spawn(fn, ...) end

---Cancels and closes everything the scope owns, at once; its tasks clean
---up afterwards.
---@param msg? string
function Scope:cancel(msg) end

---Cancels, waits for the tasks' cleanup, then closes streams, endpoints
---and processes. Inside a task.
---@param msg? string
function Scope:close(msg) end

---Waits until every task of the scope has finished, cancelling none.
function Scope:wait() end

---The unfinished tasks of the scope and of the scopes inside it.
---@return asyncio.Task[]
function Scope:tasks() end

---Whether cancel() or close() began, or the scope's loop ended.
---@return boolean
function Scope:closed() end

---The running event loop.
---A manual or virtual clock (asyncio.Clock).
---@class asyncio.Clock
---@field kind "manual"|"virtual"
---@field rate number clock seconds per real second (0: stopped between jumps)
---@field autojump_threshold number real seconds a virtual clock waits on real work before it jumps anyway
local Clock = {}

---The clock's time: its loop's time while one runs on it.
---@return number
function Clock:time() end

---Moves the clock forward by `seconds` (>= 0); what falls due runs in the
---loop's next iteration.
---@param seconds number
function Clock:jump(seconds) end

---@class asyncio.Loop
local Loop = {}

---The loop's monotonic clock, in seconds.
---@return number
function Loop:time() end

---@return asyncio.Future
function Loop:create_future() end

---Sets how long one task may run without suspending: past `warning`
---seconds it is reported to the exception handler, past `limit` it fails
---with an asyncio.SliceError (a task made with `{preempt = true}` is
---paused instead). 0 turns each off.
---@param limit number
---@param warning? number
function Loop:set_slice(limit, warning) end

---@return number limit
---@return number warning
function Loop:get_slice() end

---Turns debug mode on or off for this loop: task steps of over 0.1 s, and
---streams, servers, UDP endpoints and subprocesses dropped unclosed, are
---reported to the exception handler with where they were opened.
---@param enabled boolean
function Loop:set_debug(enabled) end

---@return boolean
function Loop:get_debug() end

---Calls `fn(...)` from the loop soon.
---@param fn function
---@param ... any
---@return asyncio.Handle
function Loop:call_soon(fn, ...) end

---Calls `fn(...)` after `delay` seconds.
---@param delay number
---@param fn function
---@param ... any
---@return asyncio.Handle
function Loop:call_later(delay, fn, ...) end

---Calls `fn(...)` at loop time `when`.
---@param when number
---@param fn function
---@param ... any
---@return asyncio.Handle
function Loop:call_at(when, fn, ...) end

---What the loop is given when an error has nowhere else to go.
---@class asyncio.ExceptionContext
---@field message string
---@field exception? any
---@field task? asyncio.Task
---@field future? asyncio.Future

---Sets the function that errors nobody retrieves go to (nil: the
---default, which prints them).
---@param handler fun(loop: asyncio.Loop, context: asyncio.ExceptionContext)?
function Loop:set_exception_handler(handler) end

---@return fun(loop: asyncio.Loop, context: asyncio.ExceptionContext)?
function Loop:get_exception_handler() end

---Hands `context` to the exception handler.
---@param context asyncio.ExceptionContext
function Loop:call_exception_handler(context) end

---What the default handler does: prints the context on stderr.
---@param context asyncio.ExceptionContext
function Loop:default_exception_handler(context) end

---Calls `fn(...)` from the loop whenever signal `sig` arrives.
---@param sig integer|string a number or a name, as "SIGHUP"
---@param fn function
---@param ... any
function Loop:add_signal_handler(sig, fn, ...) end

---@param sig integer|string
---@return boolean removed
function Loop:remove_signal_handler(sig) end

---A callback scheduled with call_soon, call_later or call_at.
---@class asyncio.Handle
local Handle = {}

---Stops the callback from running.
function Handle:cancel() end

---@return boolean
function Handle:cancelled() end

---The loop time the callback is due at.
---@return number
function Handle:when() end

---@class asyncio.Queue
local Queue = {}

---Puts an item, waiting while the queue is full.
---@param item any
function Queue:put(item) end

---Takes an item, waiting while the queue is empty.
---@return any
function Queue:get() end

---Puts an item or raises QueueFull.
---@param item any
function Queue:put_nowait(item) end

---Takes an item or raises QueueEmpty.
---@return any
function Queue:get_nowait() end

---@return integer
function Queue:qsize() end

---@return integer
function Queue:maxsize() end

---@return boolean
function Queue:empty() end

---@return boolean
function Queue:full() end

---Marks one item taken with get as processed.
function Queue:task_done() end

---Waits until every item put has been marked done.
function Queue:join() end

---Makes put raise QueueShutDown, and get once the queue is drained;
---`immediate` drops the items left.
---@param immediate? boolean
function Queue:shutdown(immediate) end

---@class asyncio.LifoQueue : asyncio.Queue
local LifoQueue = {}

---@class asyncio.PriorityQueue : asyncio.Queue
local PriorityQueue = {}

---@class asyncio.Event
local Event = {}

---Wakes every waiter; wait() returns at once until clear().
function Event:set() end

function Event:clear() end

---@return boolean
function Event:is_set() end

---Waits until the event is set.
---@return true
function Event:wait() end

---What Lock, Semaphore, BoundedSemaphore and Condition share.
---@class asyncio.Lockable
local Lockable = {}

---Waits until acquired; wake-ups are first come, first served.
---@return true
function Lockable:acquire() end

function Lockable:release() end

---True when acquire() would wait.
---@return boolean
function Lockable:locked() end

---Acquires, runs `fn(...)`, releases (also on error and cancellation) and
---returns `fn`'s values.
---@param fn fun(...): ...
---@param ... any
---@return any ...
function Lockable:with(fn, ...) end

---Acquires and returns a guard that releases when closed:
---`local g <close> = lock:guard()`.
---@return asyncio.Guard
function Lockable:guard() end

---What guard() returns, for a `<close>` variable.
---@class asyncio.Guard
local Guard = {}

---@class asyncio.Lock : asyncio.Lockable
local Lock = {}

---@class asyncio.Semaphore : asyncio.Lockable
local Semaphore = {}

---@class asyncio.BoundedSemaphore : asyncio.Semaphore
local BoundedSemaphore = {}

---@class asyncio.Condition : asyncio.Lockable
local Condition = {}

---Releases the lock, waits for a notify, and acquires it again.
---@return true
function Condition:wait() end

---Waits until `pred()` is true; returns its value.
---@param pred fun(): any
---@return any
function Condition:wait_for(pred) end

---Wakes up to `n` (1) waiters; the lock must be held.
---@param n? integer
function Condition:notify(n) end

function Condition:notify_all() end

---@class asyncio.Barrier
local Barrier = {}

---Waits until `parties` tasks wait; returns this task's index among them.
---@return integer
function Barrier:wait() end

---Breaks the waits in progress (BrokenBarrierError) and starts anew.
function Barrier:reset() end

---Breaks the barrier: waits raise BrokenBarrierError.
function Barrier:abort() end

---@return integer
function Barrier:parties() end

---@return integer
function Barrier:n_waiting() end

---@return boolean
function Barrier:broken() end

---What StreamReader and a subprocess's PipeReader share.
---@class asyncio.Reader
local Reader = {}

---Up to `n` bytes (all until the end without `n`); "" at the end.
---@param n? integer
---@return string
function Reader:read(n) end

---The next line with its "\n"; "" at the end of input.
---@return string
function Reader:readline() end

---Exactly `n` bytes, or IncompleteReadError.
---@param n integer
---@return string
function Reader:readexactly(n) end

---The bytes up to and including `sep`.
---@param sep? string ("\n")
---@return string
function Reader:readuntil(sep) end

---True once the buffer is empty and the peer has closed.
---@return boolean
function Reader:at_eof() end

---@class asyncio.StreamReader : asyncio.Reader
local StreamReader = {}

---Adds bytes to a reader made with asyncio.StreamReader().
---@param data string
function StreamReader:feed_data(data) end

---Marks the end of what feed_data gives.
function StreamReader:feed_eof() end

---The standard output or error of a subprocess.
---@class asyncio.PipeReader : asyncio.Reader
local PipeReader = {}

---What StreamWriter and a subprocess's PipeWriter share.
---@class asyncio.Writer
local Writer = {}

---Queues `data` to be written. Never raises for a closed or lost
---connection (the data is dropped; drain and the reads report the loss);
---raises after write_eof().
---@param data string
function Writer:write(data) end

---Waits until the queue is below the high-water mark.
function Writer:drain() end

function Writer:close() end

---Waits until the writer is closed.
function Writer:wait_closed() end

---@return boolean
function Writer:is_closing() end

---The bytes queued, not yet written.
---@return integer
function Writer:get_write_buffer_size() end

---"peername" or "sockname" ({host, port, host=, port=, family=}); with
---TLS "cipher" ({name, version, bits}), "peercert" ({subject=, issuer=})
---"ssl_version" and "alpn_protocol"; else `default`.
---@param name string
---@param default? any
---@return any
function Writer:get_extra_info(name, default) end

---@class asyncio.StreamWriter : asyncio.Writer
local StreamWriter = {}

---Writes each string of the list.
---@param list string[]
function StreamWriter:writelines(list) end

---Closes the write side once what is queued is written.
function StreamWriter:write_eof() end

---@return boolean
function StreamWriter:can_write_eof() end

---Closes at once, dropping what is queued.
function StreamWriter:abort() end

---Upgrades the connection to TLS in place (STARTTLS): once it returns,
---the reader and writer read and write through TLS.
---@param ctx asyncio.SSLContext
---@param opts? { server_hostname?: string, ssl_handshake_timeout?: number }
function StreamWriter:start_tls(ctx, opts) end

---Sets when drain() waits (above `high`) and resumes (at `low`).
---@param high? integer
---@param low? integer
function StreamWriter:set_write_buffer_limits(high, low) end

---The standard input of a subprocess.
---@class asyncio.PipeWriter : asyncio.Writer
local PipeWriter = {}

---@class asyncio.Server
local Server = {}

---The port it listens on (nil for a Unix-domain socket).
---@return integer?
function Server:port() end

---The addresses it listens on: {host, port, host=, port=, family=}
---tables, or a Unix-domain socket's path.
---@return (table|string)[]
function Server:sockets() end

---Stops listening; connections already made go on.
function Server:close() end

---Waits until the server is closed.
function Server:wait_closed() end

---Accepts connections until the task is cancelled (then closes the
---server), or the server is closed (then raises CancelledError).
function Server:serve_forever() end

---Starts accepting (after start_server with start_serving = false).
function Server:start_serving() end

---@return boolean
function Server:is_serving() end

---A subprocess.
---@class asyncio.Process
---@field pid integer
---@field returncode integer? the exit status, once it exited (-N: killed by signal N)
---@field stdin asyncio.PipeWriter? with stdin = asyncio.PIPE
---@field stdout asyncio.PipeReader? with stdout = asyncio.PIPE
---@field stderr asyncio.PipeReader? with stderr = asyncio.PIPE
local Process = {}

---Waits for the process to exit; returns its returncode.
---@return integer
function Process:wait() end

---Writes `input` to stdin and closes it, reads stdout and stderr to
---their ends, waits for the exit.
---@param input? string
---@return string? stdout
---@return string? stderr
function Process:communicate(input) end

---@param sig integer|string
function Process:send_signal(sig) end

---Sends SIGKILL.
function Process:kill() end

---Sends SIGTERM.
function Process:terminate() end

---A file opened with asyncio.fs.open; also closed as a `<close>`
---variable.
---@class asyncio.File
local File = {}

---Up to `n` bytes, or the rest of the file without `n`; nil at the end.
---@param n? integer
---@return string?
function File:read(n) end

---@param data string
function File:write(data) end

---Moves the position and returns it: `seek([offset [, whence]])` as in
---Python, or `seek(whence [, offset])` as in Lua; whence "set" (default),
---"cur" or "end".
---@param offset? integer|"set"|"cur"|"end"
---@param whence? "set"|"cur"|"end"|integer
---@return integer
function File:seek(offset, whence) end

function File:close() end

---@return boolean
function File:closed() end

-- }====================================================================

return asyncio
