using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Processes;

/// <summary>
/// The promise "once the Api says yes, the event reaches S3 exactly once", across the Api's process ending: SIGKILL,
/// SIGTERM (with S3 up and with S3 stopped), then a restart on the same spool. Each event carries a unique id in its properties; the bucket is read back and every id counted.
/// </summary>
public sealed class ApiDurabilityTests : IAsyncLifetime
{
    private S3rverBucket _bucket = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.StartWithOwnS3rverAsync("durability");
    }

    public async Task DisposeAsync() => await _bucket.DisposeAsync();

    private Task<ApiProcess> StartApiAsync(params (string Name, string Value)[] settings) =>
        _bucket.StartApiAsync([("BATCH_MAX_AGE_SECONDS", "3600"), .. settings]);

    private static JsonObject Event(string id) => new()
    {
        ["trafficType"] = "user",
        ["name"] = "durability_check",
        ["properties"] = new JsonObject { ["id"] = id },
    };

    private async Task<Dictionary<string, int>> StoredIdCountsAsync()
    {
        return (await _bucket.LinesAsync())
            .GroupBy(line => line["properties"]!["id"]!.GetValue<string>())
            .ToDictionary(g => g.Key, g => g.Count());
    }

    /// <summary>How long the senders may take to reach the point of the kill (they take seconds): a wait that had no end.</summary>
    private static readonly TimeSpan LoadBudget = TimeSpan.FromMinutes(2);

    private static async Task<HttpResponseMessage> FlushAsync(ApiProcess api) => await api.Http.PostAsync("/api/flush", null);

    [Theory]
    [InlineData("always")]
    [InlineData("interval")]
    public async Task After_SIGKILL_mid_stream_every_acknowledged_event_is_in_S3_exactly_once(string spoolSync)
    {
        var acknowledged = new ConcurrentBag<string>();
        var sent = new ConcurrentBag<string>();
        await using (var api = await StartApiAsync(("BATCH_SIZE", "25"), ("SPOOL_SYNC", spoolSync)))
        {
            using var killAt = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 4).Select(sender => Task.Run(async () =>
            {
                for (var n = 0; n < 400 && !killAt.IsCancellationRequested; n++)
                {
                    var id = $"{sender}-{n}";
                    sent.Add(id);
                    try
                    {
                        using var response = await api.Http.PostAsJsonAsync("/api/track", Event(id));
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            acknowledged.Add(id);
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // the process is gone: this request was never acknowledged
                    }
                }
            })).ToList();

            await Poll.UntilAsync(() => acknowledged.Count >= 300 || senders.All(s => s.IsCompleted), budget: LoadBudget, every: TimeSpan.FromMilliseconds(5));
            await api.Process.KillAsync(); // mid-stream: requests in flight, batches open, uploads under way
            killAt.Cancel();
            await Task.WhenAll(senders);
        }

        await using (var restarted = await StartApiAsync(("BATCH_SIZE", "25")))
        {
            using var flush = await FlushAsync(restarted);
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }

        var stored = await StoredIdCountsAsync();
        Assert.True(acknowledged.Count >= 300, $"only {acknowledged.Count} acknowledged before the kill");
        Assert.All(acknowledged, id => Assert.Equal(1, stored.GetValueOrDefault(id)));
        Assert.All(stored, entry => Assert.Equal(1, entry.Value)); // nothing twice, acknowledged or not
        Assert.All(stored.Keys, id => Assert.Contains(id, sent));
    }

    [Theory]
    [InlineData("always")]
    [InlineData("interval")]
    public async Task After_SIGKILL_mid_stream_every_acknowledged_batch_is_in_S3_exactly_once(string spoolSync)
    {
        const int perRequest = 20;
        var acknowledged = new ConcurrentBag<string>();
        var sent = new ConcurrentBag<string>();
        await using (var api = await StartApiAsync(("BATCH_SIZE", "50"), ("SPOOL_SYNC", spoolSync)))
        {
            using var killAt = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 4).Select(sender => Task.Run(async () =>
            {
                for (var n = 0; n < 200 && !killAt.IsCancellationRequested; n++)
                {
                    var request = $"{sender}-{n}";
                    sent.Add(request);
                    try
                    {
                        var events = Enumerable.Range(0, perRequest).Select(i => Event($"{request}/{i}")).ToArray();
                        using var response = await api.Http.PostAsJsonAsync("/api/batch", events);
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            acknowledged.Add(request);
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // the process is gone: this request was never acknowledged
                    }
                }
            })).ToList();

            await Poll.UntilAsync(() => acknowledged.Count >= 60 || senders.All(s => s.IsCompleted), budget: LoadBudget, every: TimeSpan.FromMilliseconds(5));
            await api.Process.KillAsync(); // requests in flight, seals (before a request that would not fit) under way
            killAt.Cancel();
            await Task.WhenAll(senders);
        }

        await using (var restarted = await StartApiAsync(("BATCH_SIZE", "50")))
        {
            using var flush = await FlushAsync(restarted);
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }

        var stored = await StoredIdCountsAsync();
        Assert.True(acknowledged.Count >= 60, $"only {acknowledged.Count} acknowledged before the kill");
        Assert.All(stored, entry => Assert.Equal(1, entry.Value)); // nothing twice
        var storedPerRequest = stored.Keys.GroupBy(id => id[..id.IndexOf('/')]).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(acknowledged, request => Assert.Equal(perRequest, storedPerRequest.GetValueOrDefault(request)));
        // A request never answered may be kept in part (its copy was cut short), but only as whole events.
        Assert.All(storedPerRequest.Keys, request => Assert.Contains(request, sent));
    }

    [Theory]
    [InlineData("always")]
    [InlineData("interval")]
    public async Task Eight_SIGKILLs_under_load_on_one_spool_lose_no_acknowledged_event_and_store_no_partial_or_NUL_line(string spoolSync)
    {
        // Tiny batches, single events and batches of three from six senders: seals race appends all the time.
        var acknowledged = new ConcurrentBag<string>();
        var sent = new ConcurrentBag<string>();
        for (var life = 0; life < 8; life++)
        {
            await using var api = await StartApiAsync(("BATCH_SIZE", "7"), ("SPOOL_SYNC", spoolSync), ("SPOOL_SYNC_INTERVAL_MS", "5"));
            using var killAt = new CancellationTokenSource();
            var before = acknowledged.Count;
            var senders = Enumerable.Range(0, 6).Select(sender => Task.Run(async () =>
            {
                for (var n = 0; !killAt.IsCancellationRequested; n++)
                {
                    var ids = Enumerable.Range(0, sender % 2 == 0 ? 1 : 3).Select(i => $"{life}-{sender}-{n}-{i}").ToArray();
                    foreach (var id in ids)
                    {
                        sent.Add(id);
                    }
                    try
                    {
                        using var response = ids.Length == 1
                            ? await api.Http.PostAsJsonAsync("/api/track", Event(ids[0]))
                            : await api.Http.PostAsJsonAsync("/api/batch", ids.Select(Event).ToArray());
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            foreach (var id in ids)
                            {
                                acknowledged.Add(id);
                            }
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // the process is gone: this request was never acknowledged
                    }
                }
            })).ToList();
            await Poll.UntilAsync(() => acknowledged.Count >= before + 150 || senders.All(s => s.IsCompleted), budget: LoadBudget, every: TimeSpan.FromMilliseconds(2));
            await api.Process.KillAsync();
            killAt.Cancel();
            await Task.WhenAll(senders);
        }

        await using (var restarted = await StartApiAsync(("BATCH_SIZE", "7")))
        {
            using var flush = await FlushAsync(restarted);
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }

        var objects = await _bucket.ObjectsAsync();
        Assert.All(objects, o => Assert.DoesNotContain((byte)0, o.Content));
        var stored = await StoredIdCountsAsync(); // every line a whole JSON object, or this throws
        Assert.True(acknowledged.Count >= 8 * 150, $"only {acknowledged.Count} acknowledged over eight lives");
        Assert.All(acknowledged, id => Assert.Equal(1, stored.GetValueOrDefault(id)));
        Assert.All(stored, entry => Assert.Equal(1, entry.Value));
        var sentIds = sent.ToHashSet();
        Assert.All(stored.Keys, id => Assert.Contains(id, sentIds));
    }

    [Fact]
    public async Task SIGTERM_seals_and_uploads_what_is_pending_before_the_Api_exits()
    {
        var api = await StartApiAsync(("BATCH_SIZE", "100"));
        await using (api)
        {
            foreach (var id in new[] { "a", "b", "c" })
            {
                using var response = await api.Http.PostAsJsonAsync("/api/track", Event(id));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            Assert.Equal(0, await api.Process.TerminateAsync(TimeSpan.FromSeconds(30)));
        }

        Assert.Equal(new Dictionary<string, int> { ["a"] = 1, ["b"] = 1, ["c"] = 1 }, await StoredIdCountsAsync());
        Assert.Empty(Directory.GetFiles(Path.Combine(_bucket.ApiSpool, "sealed")));
        Assert.Empty(Directory.GetFiles(Path.Combine(_bucket.ApiSpool, "open")));
    }

    [Fact]
    public async Task When_S3_is_down_at_SIGTERM_the_events_wait_in_the_spool_and_land_after_the_next_start()
    {
        await _bucket.S3.StopAsync();
        await using (var api = await StartApiAsync(("BATCH_SIZE", "100"), ("DOTNET_shutdownTimeoutSeconds", "2")))
        {
            foreach (var id in new[] { "x", "y" })
            {
                using var response = await api.Http.PostAsJsonAsync("/api/track", Event(id));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            await api.Process.TerminateAsync(TimeSpan.FromSeconds(30));
        }
        Assert.Single(Directory.GetFiles(Path.Combine(_bucket.ApiSpool, "sealed")));

        await _bucket.S3.StartAgainAsync();
        await using (var restarted = await StartApiAsync())
        {
            using var flush = await FlushAsync(restarted);
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }

        Assert.Equal(new Dictionary<string, int> { ["x"] = 1, ["y"] = 1 }, await StoredIdCountsAsync());
    }
}
