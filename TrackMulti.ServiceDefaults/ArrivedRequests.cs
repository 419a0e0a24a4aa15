using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// A request that arrived whole is served even when its sender closed the connection (FIN) or reset it (RST) right
/// after sending it, as a page that closes does with its last beacons. Both rules live in the transport every endpoint
/// uses (<see cref="ResetAsEndTransport"/>): a reset ends the input as a FIN does, and the input reports its end only
/// after the bytes before it (<see cref="EndAfterData"/>).
/// </summary>
public static class ArrivedRequests
{
    /// <summary>Applies to every endpoint Kestrel listens on (<c>ASPNETCORE_URLS</c>, launch settings, code).</summary>
    public static IServiceCollection KeepArrivedRequests(this IServiceCollection services) => services.EndInputOnReset();
}

/// <summary>
/// Reports its source's end only on a read after every byte before it was examined: Kestrel refuses a body ("Unexpected
/// end of request content") when it sees the connection's end in the same read as the body's last bytes.
/// </summary>
internal sealed class EndAfterData(PipeReader source) : PipeReader
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
