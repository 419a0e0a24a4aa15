using System.Diagnostics;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Batching;

/// <summary>The pipeline's producer face: one <see cref="BatchWriter"/> per stream, each with its own open batch and triggers.</summary>
public sealed class Batches(IEnumerable<BatchWriter> writers, IOptions<BatchingOptions> options) : IEventPipeline
{
    private readonly Dictionary<string, BatchWriter> _writers = writers.ToDictionary(writer => writer.Stream);

    /// <summary>The writer of <c>/api/track</c>'s stream, whose open batch the seed's <c>batchSize</c> describes.</summary>
    public BatchWriter Track => _writers[Streams.Track];

    public BatchWriter For(string stream) => _writers[stream];

    public TimeSpan MaxBatchAge => options.Value.MaxAge;

    public Task<AppendResult> AppendAsync(string stream, IReadOnlyList<byte[]> lines, DateTimeOffset receivedAt, ActivityContext origin) =>
        _writers[stream].AppendAsync(lines, receivedAt, CancellationToken.None, origin);

    public OpenBatch OpenBatch(string stream)
    {
        var writer = _writers[stream];
        return new OpenBatch(writer.OpenEventCount, writer.MaxBatchSize);
    }

    public async Task<IReadOnlyList<SealedBatch>> SealAllAsync(CancellationToken cancellationToken)
    {
        var seals = await Task.WhenAll(Streams.All.Select(stream => _writers[stream].SealAsync(cancellationToken)));
        return [.. seals.OfType<SealedBatch>()];
    }
}
