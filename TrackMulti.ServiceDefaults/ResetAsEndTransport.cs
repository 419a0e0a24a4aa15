using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Kestrel's socket transport but for how a connection's input ends: a reset by its sender ends it the way a FIN does,
/// after every byte received before it, and either end is reported only once those bytes were read
/// (<see cref="EndAfterData"/>). Kestrel's own transport completes its input pipe with a
/// <see cref="ConnectionResetException"/>, and a <see cref="Pipe"/> then throws on every read although the bytes are
/// still in it, so a request sent whole just before a reset was lost. Its options are Kestrel's
/// <see cref="SocketTransportOptions"/>.
/// </summary>
public static class ResetAsEndTransport
{
    public static IServiceCollection EndInputOnReset(this IServiceCollection services)
    {
        // Kestrel tries its factories last registered first; its own stays for what this one does not bind.
        services.TryAddSingleton<IConnectionListenerFactory, SocketTransportFactory>();
        services.AddSingleton<IConnectionListenerFactory, Factory>();
        return services;
    }

    private sealed class Factory(IOptions<SocketTransportOptions> options, IMemoryPoolFactory<byte>? memoryPools = null)
        : IConnectionListenerFactory, IConnectionListenerFactorySelector
    {
        public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint or UnixDomainSocketEndPoint or FileHandleEndPoint;

        public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
            new(new Listener(endpoint, options.Value, memoryPools));
    }

    /// <summary>Spreads connections over queues as Kestrel does: each has its memory pool and its transport scheduler.</summary>
    private sealed class Listener : IConnectionListener
    {
        private static readonly MemoryPoolOptions PoolOptions = new() { Owner = "kestrel" };
        private readonly SocketTransportOptions _options;
        private readonly Socket _listenSocket;
        private readonly Queue[] _queues;
        private long _next;

        public Listener(EndPoint endpoint, SocketTransportOptions options, IMemoryPoolFactory<byte>? memoryPools)
        {
            _options = options;
            try
            {
                _listenSocket = options.CreateBoundListenSocket(endpoint);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new AddressInUseException(e.Message, e);
            }
            EndPoint = _listenSocket.LocalEndPoint!;
            _listenSocket.Listen(options.Backlog);

            var application = options.UnsafePreferInlineScheduling ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
            _queues = new Queue[Math.Max(options.IOQueueCount, 1)];
            for (var i = 0; i < _queues.Length; i++)
            {
                var pool = memoryPools?.Create(PoolOptions) ?? MemoryPool<byte>.Shared;
                PipeScheduler transport = options.UnsafePreferInlineScheduling ? PipeScheduler.Inline
                    : options.IOQueueCount > 0 ? new IOQueue() : PipeScheduler.ThreadPool;
                long read = options.MaxReadBufferSize ?? 0, write = options.MaxWriteBufferSize ?? 0;
                _queues[i] = new Queue(pool,
                    new PipeOptions(pool, application, transport, read, read / 2, useSynchronizationContext: false),
                    new PipeOptions(pool, transport, application, write, write / 2, useSynchronizationContext: false));
            }
        }

        public EndPoint EndPoint { get; }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                try
                {
                    var socket = await _listenSocket.AcceptAsync(cancellationToken);
                    if (socket.LocalEndPoint is IPEndPoint)
                    {
                        socket.NoDelay = _options.NoDelay;
                    }
                    var connection = new Connection(socket, _queues[Interlocked.Increment(ref _next) % _queues.Length], _options.WaitForDataBeforeAllocatingBuffer);
                    connection.Start();
                    return connection;
                }
                catch (ObjectDisposedException)
                {
                    return null; // unbound
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
                {
                    return null;
                }
                catch (SocketException)
                {
                    // A connection reset before it was accepted: take the next one.
                }
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _listenSocket.Dispose();
            return default;
        }

        public ValueTask DisposeAsync()
        {
            _listenSocket.Dispose();
            foreach (var queue in _queues)
            {
                queue.Pool.Dispose();
            }
            return default;
        }
    }

    private sealed record Queue(MemoryPool<byte> Pool, PipeOptions Input, PipeOptions Output);

    /// <summary>
    /// Runs a queue's callbacks in one thread-pool item at a time, as Kestrel's transport does, so that connections'
    /// sends that fall due together cost one dispatch.
    /// </summary>
    private sealed class IOQueue : PipeScheduler, IThreadPoolWorkItem
    {
        private readonly ConcurrentQueue<(Action<object?> Callback, object? State)> _work = new();
        private int _running;

        public override void Schedule(Action<object?> action, object? state)
        {
            _work.Enqueue((action, state));
            if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
            {
                System.Threading.ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
        }

        void IThreadPoolWorkItem.Execute()
        {
            while (true)
            {
                while (_work.TryDequeue(out var item))
                {
                    item.Callback(item.State);
                }
                // A full fence: work queued after the last dequeue but before the flag fell would wait for no one.
                Interlocked.Exchange(ref _running, 0);
                if (_work.IsEmpty || Interlocked.Exchange(ref _running, 1) == 1)
                {
                    return;
                }
            }
        }
    }

    private sealed class Connection : ConnectionContext,
        IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature, IConnectionLifetimeFeature, IConnectionSocketFeature
    {
        private const int MinAllocBufferSize = 2048;
        // Kestrel's switch: close with a FIN, not a reset, when the connection ends in error.
        private static readonly bool FinOnError = AppContext.TryGetSwitch("Microsoft.AspNetCore.Server.Kestrel.FinOnError", out var fin) && fin;

        private readonly Socket _socket;
        private readonly bool _waitForData;
        private readonly IDuplexPipe _transport;
        private readonly PipeWriter _input; // the transport's end of the application's input
        private readonly PipeReader _output; // the transport's end of the application's output
        private readonly CancellationTokenSource _closed = new();
        private readonly TaskCompletionSource _closedFired = new();
        private readonly Lock _shutdownLock = new();
        private volatile Exception? _shutdownReason;
        private Task? _receiving;
        private Task? _sending;
        private string? _id;
        private IDictionary<object, object?>? _items;
        private List<ArraySegment<byte>>? _segments;

        public Connection(Socket socket, Queue queue, bool waitForData)
        {
            _socket = socket;
            _waitForData = waitForData;
            MemoryPool = queue.Pool;
            LocalEndPoint = socket.LocalEndPoint;
            RemoteEndPoint = socket.RemoteEndPoint;
            ConnectionClosed = _closed.Token;
            var input = new Pipe(queue.Input);
            var output = new Pipe(queue.Output);
            _input = input.Writer;
            _output = output.Reader;
            Transport = _transport = new DuplexPipe(new EndAfterData(input.Reader), output.Writer);

            var features = new FeatureCollection(8);
            features.Set<IConnectionIdFeature>(this);
            features.Set<IConnectionTransportFeature>(this);
            features.Set<IConnectionItemsFeature>(this);
            features.Set<IMemoryPoolFeature>(this);
            features.Set<IConnectionLifetimeFeature>(this);
            features.Set<IConnectionSocketFeature>(this);
            Features = features;
        }

        public override string ConnectionId
        {
            get => _id ??= Guid.NewGuid().ToString("N")[..13].ToUpperInvariant();
            set => _id = value;
        }

        public override IFeatureCollection Features { get; }

        public override IDictionary<object, object?> Items
        {
            get => _items ??= new Dictionary<object, object?>();
            set => _items = value;
        }

        public override IDuplexPipe Transport { get; set; }

        public MemoryPool<byte> MemoryPool { get; }

        public Socket Socket => _socket;

        public void Start()
        {
            _receiving = ReceiveAsync();
            _sending = SendAsync();
        }

        public override void Abort(ConnectionAbortedException abortReason)
        {
            Shutdown(abortReason);
            _output.CancelPendingRead();
        }

        // Kestrel calls it once the connection's middleware has returned, after ConnectionClosed fired.
        public override async ValueTask DisposeAsync()
        {
            _transport.Input.Complete();
            _transport.Output.Complete();
            await _receiving!;
            await _sending!;
            _closed.Dispose();
        }

        private async Task ReceiveAsync()
        {
            Exception? error = null;
            try
            {
                while (_shutdownReason is null)
                {
                    if (_waitForData)
                    {
                        // An idle connection holds no buffer.
                        await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                    }
                    var received = await _socket.ReceiveAsync(_input.GetMemory(MinAllocBufferSize), SocketFlags.None);
                    if (received == 0)
                    {
                        break; // FIN
                    }
                    _input.Advance(received);
                    var flush = await _input.FlushAsync();
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        break;
                    }
                }
            }
            catch (SocketException e) when (PeerLeft(e.SocketErrorCode))
            {
                // The kernel hands out every byte that arrived before the reset, then the reset: those bytes are in
                // the pipe, and the application reads them as it would before a FIN.
            }
            catch (Exception e) when (_shutdownReason is not null && e is ObjectDisposedException or SocketException)
            {
                // Aborted or closed by the send loop: _shutdownReason says why.
            }
            catch (Exception e)
            {
                error = e;
            }
            finally
            {
                await _input.CompleteAsync(_shutdownReason ?? error);
                ThreadPool.UnsafeQueueUserWorkItem(static connection =>
                {
                    connection._closed.Cancel();
                    connection._closedFired.TrySetResult();
                }, this, preferLocal: false);
                await _closedFired.Task;
            }
        }

        private async Task SendAsync()
        {
            Exception? shutdownReason = null, unexpected = null;
            try
            {
                while (true)
                {
                    var result = await _output.ReadAsync();
                    if (result.IsCanceled)
                    {
                        break;
                    }
                    var buffer = result.Buffer;
                    if (buffer.IsSingleSegment)
                    {
                        await SendAllAsync(buffer.First);
                    }
                    else if (!buffer.IsEmpty)
                    {
                        await SendAllAsync(buffer);
                    }
                    _output.AdvanceTo(buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
            }
            catch (SocketException e) when (PeerLeft(e.SocketErrorCode))
            {
                shutdownReason = new ConnectionResetException(e.Message, e);
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument })
            {
                shutdownReason = e; // aborted
            }
            catch (Exception e)
            {
                shutdownReason = unexpected = e;
            }
            finally
            {
                Shutdown(shutdownReason);
                await _output.CompleteAsync(unexpected);
                _input.CancelPendingFlush(); // a receive loop held by backpressure ends too
            }
        }

        private async ValueTask SendAllAsync(ReadOnlyMemory<byte> memory)
        {
            while (!memory.IsEmpty)
            {
                memory = memory[await _socket.SendAsync(memory, SocketFlags.None)..];
            }
        }

        private async ValueTask SendAllAsync(ReadOnlySequence<byte> buffer)
        {
            // One system call for all segments, as Kestrel makes; its pool's blocks are arrays.
            var segments = _segments ??= [];
            segments.Clear();
            foreach (var memory in buffer)
            {
                if (!MemoryMarshal.TryGetArray(memory, out var segment))
                {
                    segment = memory.ToArray();
                }
                segments.Add(segment);
            }
            var sent = await _socket.SendAsync(segments, SocketFlags.None);
            if (sent < buffer.Length)
            {
                foreach (var rest in buffer.Slice(sent))
                {
                    await SendAllAsync(rest);
                }
            }
        }

        private void Shutdown(Exception? reason)
        {
            lock (_shutdownLock)
            {
                if (_shutdownReason is not null)
                {
                    return;
                }
                _shutdownReason = reason ?? new ConnectionAbortedException("The Socket transport's send loop completed gracefully.");
                if (reason is not null && !FinOnError)
                {
                    _socket.Close(0); // as Kestrel: an aborted connection is reset
                    return;
                }
                try
                {
                    _socket.Shutdown(SocketShutdown.Both);
                }
                catch
                {
                    // The connection ends either way.
                }
                _socket.Dispose();
            }
        }

        /// <summary>The peer reset or is gone: what it sent before is all there will be.</summary>
        private static bool PeerLeft(SocketError error) =>
            error is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.NotConnected or SocketError.ConnectionAborted;

        private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
        {
            public PipeReader Input { get; } = input;

            public PipeWriter Output { get; } = output;
        }
    }
}
