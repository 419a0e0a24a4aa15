using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// What the FME forwarding and replay tests share, in process and across a crash: a bucket of the test's own, an FME
/// stand-in, the Api's settings for it, events that carry an id, and what S3 and FME got of them. A test class makes
/// one, starts it in <c>InitializeAsync</c> and disposes of it in <c>DisposeAsync</c>.
/// </summary>
internal sealed class FmeForwardingCheck : IAsyncDisposable
{
    public const string ServerKey = "server-side-key-0123456789";

    private readonly Func<Task<S3rverBucket>> _createBucket;
    private S3rverBucket? _bucket;
    private FmeStandIn? _fme;

    private FmeForwardingCheck(Func<Task<S3rverBucket>> createBucket) => _createBucket = createBucket;

    /// <summary>A bucket named after <paramref name="purpose"/> in the shared s3rver (<see cref="S3rverBucket.CreateAsync"/>).</summary>
    public static FmeForwardingCheck InSharedS3rver(string purpose) => new(() => S3rverBucket.CreateAsync(purpose));

    /// <summary>A bucket in an s3rver of the test's own, to stop (<see cref="S3rverBucket.StartWithOwnS3rverAsync"/>).</summary>
    public static FmeForwardingCheck WithOwnS3rver(string name) => new(() => S3rverBucket.StartWithOwnS3rverAsync(name));

    public S3rverBucket Bucket => _bucket ?? throw new InvalidOperationException("not started");

    public FmeStandIn Fme => _fme ?? throw new InvalidOperationException("not started");

    public async Task StartAsync()
    {
        _bucket = await _createBucket();
        _fme = await FmeStandIn.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_fme is not null)
        {
            await _fme.DisposeAsync();
        }
        if (_bucket is not null)
        {
            await _bucket.DisposeAsync();
        }
    }

    /// <summary>Forward everything to the stand-in with the server's key, retry quickly, seal by count only.</summary>
    public (string Name, string Value)[] Settings(params (string Name, string Value)[] more) =>
    [
        ("FME_EVENTS_URL", Fme.EventsUrl),
        ("FME_FORWARD", "all"),
        ("HARNESS_FME_API_KEY", "client-side-key"),
        ("HARNESS_FME_SERVER_KEY", ServerKey),
        ("FME_RETRIES", "1"),
        ("FME_RETRY_BASE_DELAY_MS", "10"),
        ("FME_PAUSE_MAX_SECONDS", "1"),
        ("BATCH_MAX_AGE_SECONDS", "3600"),
        .. more,
    ];

    public static JsonObject Event(string id, bool withKey = true)
    {
        var evt = new JsonObject
        {
            ["trafficType"] = "user",
            ["name"] = "fme_check",
            ["value"] = 1.5,
            ["properties"] = new JsonObject { ["id"] = id },
        };
        if (withKey)
        {
            evt["key"] = $"user-{id}";
        }
        return evt;
    }

    public static string IdOf(JsonObject evt) => evt["properties"]!["id"]!.GetValue<string>();

    public static async Task TrackAsync(HttpClient api, IEnumerable<string> ids, bool withKey = true)
    {
        foreach (var id in ids)
        {
            using var response = await api.PostAsJsonAsync("/api/track", Event(id, withKey));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    public async Task<Dictionary<string, int>> StoredIdCountsAsync() =>
        (await Bucket.LinesAsync()).GroupBy(IdOf).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>
    /// Waits until FME accepted every one of <paramref name="ids"/> (at least once). Each look parses every post the
    /// stand-in accepted, thousands of events in the crash tests: every 100 ms, within 60 s.
    /// </summary>
    public Task WaitForFmeAsync(IReadOnlyCollection<string> ids) => Poll.UntilAsync(
        () => Task.FromResult(ids.Except(Fme.AcceptedEvents().Select(IdOf)).ToList()),
        missing => missing.Count == 0,
        missing => $"FME never received {missing.Count} events, for example {string.Join(", ", missing.Take(5))}",
        budget: TimeSpan.FromSeconds(60), every: TimeSpan.FromMilliseconds(100));
}
