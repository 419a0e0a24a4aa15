using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TrackMulti.Api.Sinks.Fme;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Processes;

/// <summary>
/// The FME sink across a crash: FME failing for a while, then SIGKILL and a restart on the same spool. S3 must get
/// every acknowledged event exactly once; FME at least once, in Split's shape. (FME or S3 down without a crash:
/// <c>InProcess.FmeForwardingTests</c>.)
/// </summary>
public sealed class FmeForwardingCrashTests : IAsyncLifetime
{
    private const string ServerKey = "server-side-key-0123456789";
    private S3rverBucket _bucket = null!;
    private FmeStandIn _fme = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync("fme-crash");
        _fme = await FmeStandIn.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _fme.DisposeAsync();
        await _bucket.DisposeAsync();
    }

    private Task<ApiProcess> StartApiAsync(params (string Name, string Value)[] settings) => _bucket.StartApiAsync(
    [
        ("FME_EVENTS_URL", _fme.EventsUrl),
        ("FME_FORWARD", "all"),
        ("HARNESS_FME_API_KEY", "client-side-key"),
        ("HARNESS_FME_SERVER_KEY", ServerKey),
        ("FME_RETRIES", "1"),
        ("FME_RETRY_BASE_DELAY_MS", "10"),
        ("FME_PAUSE_MAX_SECONDS", "1"),
        ("BATCH_MAX_AGE_SECONDS", "3600"),
        .. settings,
    ]);

    private static JsonObject Event(string id, bool withKey = true)
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

    private static async Task TrackAsync(ApiProcess api, IEnumerable<string> ids, bool withKey = true)
    {
        foreach (var id in ids)
        {
            using var response = await api.Http.PostAsJsonAsync("/api/track", Event(id, withKey));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private static string IdOf(JsonObject evt) => evt["properties"]!["id"]!.GetValue<string>();

    private async Task<Dictionary<string, int>> StoredIdCountsAsync() =>
        (await _bucket.LinesAsync()).GroupBy(IdOf).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Waits until FME accepted every one of <paramref name="ids"/> (at least once).</summary>
    private async Task WaitForFmeAsync(IReadOnlyCollection<string> ids)
    {
        for (var i = 0; i < 300; i++)
        {
            var received = _fme.AcceptedEvents().Select(IdOf).ToHashSet();
            if (ids.All(received.Contains))
            {
                return;
            }
            await Task.Delay(100);
        }
        var missing = ids.Except(_fme.AcceptedEvents().Select(IdOf)).ToList();
        Assert.Fail($"FME never received {missing.Count} events, for example {string.Join(", ", missing.Take(5))}");
    }

    [Fact]
    public async Task With_FME_failing_for_a_while_and_a_SIGKILL_every_acknowledged_event_is_in_S3_once_and_in_FME_at_least_once()
    {
        var acknowledged = new ConcurrentBag<string>();
        _fme.Answer = HttpStatusCode.InternalServerError;
        await using (var api = await StartApiAsync(("BATCH_SIZE", "20")))
        {
            using var killAt = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 4).Select(sender => Task.Run(async () =>
            {
                for (var n = 0; n < 300 && !killAt.IsCancellationRequested; n++)
                {
                    try
                    {
                        using var response = await api.Http.PostAsJsonAsync("/api/track", Event($"{sender}-{n}"));
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            acknowledged.Add($"{sender}-{n}");
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // the process is gone: this request was never acknowledged
                    }
                }
            })).ToList();

            while (acknowledged.Count < 200)
            {
                await Task.Delay(5);
            }
            Assert.True(_fme.Refused > 0, "FME was never asked while it failed");
            _fme.Answer = null; // FME recovers while events keep coming
            while (acknowledged.Count < 500 && senders.Any(s => !s.IsCompleted))
            {
                await Task.Delay(5);
            }
            await api.Process.KillAsync();
            killAt.Cancel();
            await Task.WhenAll(senders);
        }

        await using (var restarted = await StartApiAsync(("BATCH_SIZE", "20")))
        {
            using var flush = await restarted.Http.PostAsync("/api/flush", null);
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
            await WaitForFmeAsync([.. acknowledged]);
        }

        var stored = await StoredIdCountsAsync();
        Assert.All(acknowledged, id => Assert.Equal(1, stored.GetValueOrDefault(id)));
        Assert.All(stored.Values, count => Assert.Equal(1, count));

        var accepted = _fme.Posts.Where(p => p.Answered == HttpStatusCode.OK).ToList();
        Assert.All(_fme.Posts, post =>
        {
            Assert.Equal("/events/bulk", post.Path);
            Assert.Equal($"Bearer {ServerKey}", post.Authorization);
            Assert.StartsWith("application/json", post.ContentType);
        });
        Assert.All(accepted, post => Assert.InRange(post.Events().Count, 1, FmeSink.MaxEventsPerPost));
        var sample = accepted.SelectMany(p => p.Events()).First();
        Assert.Equal(["eventTypeId", "trafficTypeName", "key", "value", "timestamp", "properties"], sample.Select(p => p.Key));
        Assert.Equal("fme_check", sample["eventTypeId"]!.GetValue<string>());
        Assert.Equal("user", sample["trafficTypeName"]!.GetValue<string>());
        Assert.Equal($"user-{IdOf(sample)}", sample["key"]!.GetValue<string>());
        Assert.Equal(1.5, sample["value"]!.GetValue<double>());
        Assert.InRange(sample["timestamp"]!.GetValue<long>(), DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        // At-least-once: one crash may send again at most the post that was in flight.
        var duplicates = _fme.AcceptedEvents().GroupBy(IdOf).Sum(g => g.Count() - 1);
        Assert.InRange(duplicates, 0, FmeSink.MaxEventsPerPost);
        Assert.All(_fme.AcceptedEvents().Select(IdOf), id => Assert.True(stored.ContainsKey(id), $"{id} reached FME but not S3"));
    }
}
