using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// A request that arrived whole is served even when its sender closed the connection (FIN) or reset it (RST) right
/// after sending it, as a page that closes does with its last beacons. A reset ends the input as a FIN does
/// (<see cref="ResetAsEndTransport"/>). Kestrel alone refuses such a body ("Unexpected end of request content") when it
/// sees the connection's end in the same read as the body's last bytes; so each connection's input reports its end
/// only on a read after every byte before it was examined.
/// </summary>
public static class ArrivedRequests
{
    /// <summary>Applies to every endpoint Kestrel listens on (<c>ASPNETCORE_URLS</c>, launch settings, code).</summary>
    public static IServiceCollection KeepArrivedRequests(this IServiceCollection services)
    {
        services.EndInputOnReset();
        services.Configure<KestrelServerOptions>(kestrel =>
            kestrel.ConfigureEndpointDefaults(listen => listen.Use(next => connection => ServeAsync(next, connection))));
        return services;
    }

    private static async Task ServeAsync(ConnectionDelegate next, ConnectionContext connection)
    {
        var transport = connection.Transport;
        connection.Transport = new DuplexPipe(new EndAfterData(transport.Input), transport.Output);
        try
        {
            await next(connection);
        }
        finally
        {
            connection.Transport = transport;
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>Reports its source's end only on a read after every byte before it was examined.</summary>
    private sealed class EndAfterData(PipeReader source) : PipeReader
    {
        private ReadOnlySequence<byte> _handedOut;
        private long _examinedUnconsumed;

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var read = source.ReadAsync(cancellationToken);
            return read.IsCompletedSuccessfully ? new ValueTask<ReadResult>(Hold(read.Result)) : HoldAsync(read);
        }

        private async ValueTask<ReadResult> HoldAsync(ValueTask<ReadResult> read) => Hold(await read);

        public override bool TryRead(out ReadResult result)
        {
            if (!source.TryRead(out var read))
            {
                result = default;
                return false;
            }
            result = Hold(read);
            return true;
        }

        private ReadResult Hold(ReadResult read)
        {
            _handedOut = read.Buffer;
            return read.IsCompleted && read.Buffer.Length > _examinedUnconsumed
                ? new ReadResult(read.Buffer, read.IsCanceled, isCompleted: false)
                : read;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            _examinedUnconsumed = _handedOut.Slice(consumed, examined).Length;
            _handedOut = default;
            source.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => source.CancelPendingRead();

        public override void Complete(Exception? exception = null) => source.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => source.CompleteAsync(exception);
    }
}
