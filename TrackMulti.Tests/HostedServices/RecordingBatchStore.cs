using System.Collections.Concurrent;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Sinks.S3;

namespace TrackMulti.Tests.HostedServices;

/// <summary>An in-memory object store that records every attempt and fails on demand.</summary>
internal sealed class RecordingBatchStore : IObjectStore
{
    private readonly ConcurrentQueue<Exception> _plannedFailures = new();

    public string Location => "test-bucket";

    public ConcurrentQueue<string> Attempts { get; } = new();

    /// <summary>What each attempt sent, failed ones too, in order.</summary>
    public ConcurrentQueue<(string Key, byte[] Body)> Sent { get; } = new();

    public ConcurrentDictionary<string, byte[]> Objects { get; } = new();

    /// <summary>While set, attempts wait for it: lets a test register a drain before the first round can finish.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Fails every attempt while set (after the planned failures are used up).</summary>
    public Exception? FailAll { get; set; }

    /// <summary>While set, each attempt waits until the test releases its key (<see cref="Release"/>).</summary>
    public bool HoldEach { get; set; }

    /// <summary>Attempts waiting for their release, by key.</summary>
    public ConcurrentDictionary<string, TaskCompletionSource> Held { get; } = new();

    /// <summary>Attempts for these keys fail (a 503) while they are in it.</summary>
    public ConcurrentDictionary<string, bool> FailingKeys { get; } = new();

    /// <summary>The most attempts that were under way at once.</summary>
    public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

    private int _atOnce;
    private int _mostAtOnce;

    public void Release(string key) => Held.GetOrAdd(key, _ => NewHold()).TrySetResult();

    private static TaskCompletionSource NewHold() => new(TaskCreationOptions.RunContinuationsAsynchronously);

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

    public async Task PutAsync(string key, string stream, Stream content, int events, CancellationToken cancellationToken)
    {
        var atOnce = Interlocked.Increment(ref _atOnce);
        try
        {
            for (var most = MostAtOnce; atOnce > most; most = MostAtOnce)
            {
                Interlocked.CompareExchange(ref _mostAtOnce, atOnce, most);
            }
            await AttemptAsync(key, content, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _atOnce);
        }
    }

    private async Task AttemptAsync(string key, Stream content, CancellationToken cancellationToken)
    {
        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }
        if (HoldEach)
        {
            await Held.GetOrAdd(key, _ => NewHold()).Task.WaitAsync(cancellationToken);
        }
        Attempts.Enqueue(key);
        using var body = new MemoryStream();
        await content.CopyToAsync(body, cancellationToken);
        Sent.Enqueue((key, body.ToArray()));
        if (FailingKeys.ContainsKey(key))
        {
            throw new Amazon.S3.AmazonS3Exception("Slow down") { StatusCode = System.Net.HttpStatusCode.ServiceUnavailable };
        }
        if (_plannedFailures.TryDequeue(out var planned))
        {
            throw planned;
        }
        if (FailAll is { } failure)
        {
            throw failure;
        }
        Objects[key] = body.ToArray();
    }

    public async IAsyncEnumerable<string> ListKeysAsync(
        string prefix, string startAfter, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        foreach (var key in Objects.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && string.CompareOrdinal(k, startAfter) > 0)
            .Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return key;
        }
    }

    public Task<StoredContent?> ReadAsync(string key, CancellationToken cancellationToken) =>
        Task.FromResult(Objects.TryGetValue(key, out var content) ? new StoredContent(content, null) : null);
}
