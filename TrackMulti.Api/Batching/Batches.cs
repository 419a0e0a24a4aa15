using TrackMulti.Api.Model;
using TrackMulti.Api.Spool;

namespace TrackMulti.Api.Batching;

/// <summary>One <see cref="BatchWriter"/> per stream, each with its own open batch and triggers.</summary>
public sealed class Batches(IEnumerable<BatchWriter> writers)
{
    private readonly Dictionary<string, BatchWriter> _writers = writers.ToDictionary(writer => writer.Stream);

    /// <summary>The writer of <c>/api/track</c>'s stream, whose open batch the seed's <c>batchSize</c> describes.</summary>
    public BatchWriter Track => _writers[Streams.Track];

    public BatchWriter For(string stream) => _writers[stream];

    /// <summary>Seals every stream's open batch; the batches sealed, events first.</summary>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    /// <exception cref="SpoolWriteException">The spool refused a seal.</exception>
    public async Task<IReadOnlyList<SealedSegment>> SealAllAsync(CancellationToken cancellationToken)
    {
        var seals = await Task.WhenAll(Streams.All.Select(stream => _writers[stream].SealAsync(cancellationToken)));
        return [.. seals.OfType<SealedSegment>()];
    }
}
