using System.Collections.Concurrent;
using TrackMulti.Api.Sinks.S3;

namespace TrackMulti.Tests.HostedServices;

/// <summary>An in-memory object store that records every attempt and fails on demand.</summary>
internal sealed class RecordingBatchStore : IObjectStore
{
    private readonly ConcurrentQueue<Exception> _plannedFailures = new();

    public string Location => "test-bucket";

    public ConcurrentQueue<string> Attempts { get; } = new();

    public ConcurrentDictionary<string, byte[]> Objects { get; } = new();

    /// <summary>While set, attempts wait for it: lets a test register a drain before the first round can finish.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Fails every attempt while set (after the planned failures are used up).</summary>
    public Exception? FailAll { get; set; }

    public void FailNext(int count, Func<Exception> failure)
    {
        for (var i = 0; i < count; i++)
        {
            _plannedFailures.Enqueue(failure());
        }
    }

    public Task<IReadOnlyList<StoredObject>> ListRecentAsync(int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<StoredObject>>(
            [.. Objects.OrderByDescending(o => o.Key, StringComparer.Ordinal).Take(limit)
                .Select(o => new StoredObject(o.Key, o.Value.Count(b => b == (byte)'\n'), o.Value.Length, null))]);

    public async Task PutAsync(string key, Stream content, int events, CancellationToken cancellationToken)
    {
        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }
        Attempts.Enqueue(key);
        if (_plannedFailures.TryDequeue(out var planned))
        {
            throw planned;
        }
        if (FailAll is { } failure)
        {
            throw failure;
        }
        using var copy = new MemoryStream();
        await content.CopyToAsync(copy, cancellationToken);
        Objects[key] = copy.ToArray();
    }
}
