using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TrackMulti.Api.Model;
using TrackMulti.Api.Spool;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Processes;

/// <summary>
/// Replicas on one <c>SPOOL_DIR</c> and one bucket: each owns the folder of its instance id under a lock the kernel
/// frees when the process dies; a folder nobody holds is adopted by a live replica, and its events reach S3 once.
/// </summary>
public sealed class ReplicaTests : IAsyncLifetime
{
    private S3rverBucket _bucket = null!;

    public async Task InitializeAsync() => _bucket = await S3rverBucket.CreateAsync("replicas");

    public async Task DisposeAsync() => await _bucket.DisposeAsync();

    private Task<ApiProcess> StartAsync(string instanceId, params (string Name, string Value)[] settings) => _bucket.StartApiAsync(
    [
        ("INSTANCE_ID", instanceId), ("SPOOL_ADOPT_SECONDS", "0.5"), ("BATCH_SIZE", "20"), ("BATCH_MAX_AGE_SECONDS", "3600"),
        .. settings,
    ]);

    private static JsonObject Event(string id) => new() { ["name"] = "replica_check", ["key"] = "user-1", ["properties"] = new JsonObject { ["id"] = id } };

    private async Task<Dictionary<string, int>> StoredIdCountsAsync() =>
        (await _bucket.LinesAsync()).GroupBy(l => l["properties"]!["id"]!.GetValue<string>()).ToDictionary(g => g.Key, g => g.Count());

    private static async Task<JsonArray> AdoptedAsync(ApiProcess api) => (await api.StatusAsync())["adopted"]!.AsArray();

    [Fact]
    public async Task Of_three_replicas_one_SIGKILLed_and_never_restarted_its_folder_is_adopted_and_every_acknowledged_event_is_in_S3_once()
    {
        var acknowledged = new ConcurrentBag<string>();
        var replicas = new[] { await StartAsync("r1"), await StartAsync("r2"), await StartAsync("r3") };
        try
        {
            using var stop = new CancellationTokenSource();
            var senders = replicas.Select((api, r) => Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested && n < 400; n++)
                {
                    try
                    {
                        using var response = await api.Http.PostAsJsonAsync("/api/track", Event($"r{r + 1}-{n}"));
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            acknowledged.Add($"r{r + 1}-{n}");
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // its replica is gone
                    }
                }
            })).ToList();
            // Mid-load: once r2 has acknowledged a batch's worth, so batches are open and uploads under way.
            await Poll.UntilAsync(() => acknowledged.Count(id => id.StartsWith("r2-", StringComparison.Ordinal)) >= 20);
            await replicas[1].Process.KillAsync();
            await Task.Delay(500);
            stop.Cancel();
            await Task.WhenAll(senders);

            // One of the two adopts r2's folder; then each flush waits for its replica's uploads, adopted ones included.
            await Poll.UntilAsync(() => !Directory.Exists(Path.Combine(_bucket.SpoolDirectory, "r2")));
            foreach (var live in new[] { replicas[0], replicas[2] })
            {
                using var flush = await live.Http.PostAsync("/api/flush", null);
                Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
            }
            var adopted = (await AdoptedAsync(replicas[0])).Concat(await AdoptedAsync(replicas[2])).ToList();
            Assert.Equal("r2", Assert.Single(adopted)!["folder"]!.GetValue<string>());

            var stored = await StoredIdCountsAsync();
            Assert.Contains(acknowledged, id => id.StartsWith("r2-", StringComparison.Ordinal));
            Assert.All(acknowledged, id => Assert.Equal(1, stored.GetValueOrDefault(id)));
            Assert.All(stored, pair => Assert.Equal(1, pair.Value));
            var keys = (await _bucket.ObjectsAsync()).Select(o => o.Key).ToList();
            Assert.Equal(keys.Count, keys.Distinct().Count());
        }
        finally
        {
            foreach (var api in replicas)
            {
                await api.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Two_replicas_racing_for_one_orphaned_folder_adopt_it_exactly_once()
    {
        var lines = string.Concat(Enumerable.Range(1, 3).Select(n => Event($"orphan-{n}").ToJsonString()[..^1] + ",\"trafficType\":\"user\",\"receivedAt\":\"2025-10-24T10:30:15.456Z\"}\n"));
        var orphan = Path.Combine(_bucket.SpoolDirectory, "orphan");
        Directory.CreateDirectory(Path.Combine(orphan, "sealed"));
        await File.WriteAllTextAsync(Path.Combine(orphan, "sealed", SpoolDirectory.FileName(4, Streams.Track, "events/batch-2025-10-24T10-30-15-456Z-orphan-000004.ndjson")), lines);

        var starting = new[] { StartAsync("a1"), StartAsync("a2") };
        var racers = await Task.WhenAll(starting);
        try
        {
            await Poll.UntilAsync(() => !Directory.Exists(orphan));
            foreach (var api in racers)
            {
                (await api.Http.PostAsync("/api/flush", null)).EnsureSuccessStatusCode();
            }
            var adopted = (await AdoptedAsync(racers[0])).Concat(await AdoptedAsync(racers[1])).ToList();
            Assert.Equal("orphan", Assert.Single(adopted)!["folder"]!.GetValue<string>());
            Assert.Equal(new Dictionary<string, int> { ["orphan-1"] = 1, ["orphan-2"] = 1, ["orphan-3"] = 1 }, await StoredIdCountsAsync());
            Assert.Single(await _bucket.ObjectsAsync()); // under its own key
        }
        finally
        {
            foreach (var api in racers)
            {
                await api.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_live_replicas_folder_is_never_taken_and_a_restart_with_its_instance_id_takes_it_back()
    {
        var owner = await StartAsync("owner");
        for (var n = 0; n < 5; n++)
        {
            (await owner.Http.PostAsJsonAsync("/api/track", Event($"owned-{n}"))).EnsureSuccessStatusCode();
        }
        await using (var other = await StartAsync("other"))
        {
            await Task.Delay(2000); // four adoption rounds
            Assert.Empty(await AdoptedAsync(other));
            Assert.True(Directory.Exists(Path.Combine(_bucket.SpoolDirectory, "owner")));
            Assert.Equal(5, (await owner.StatusAsync())["batchSize"]!.GetValue<int>());
            // A second process with the same id is refused: the folder is held.
            var twin = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync("owner"));
            Assert.Contains("INSTANCE_ID 'owner' is in use", twin.Message);
        }

        await owner.Process.KillAsync();
        await owner.DisposeAsync();
        await using var restarted = await StartAsync("owner");
        (await restarted.Http.PostAsync("/api/flush", null)).EnsureSuccessStatusCode();
        Assert.Empty(await AdoptedAsync(restarted)); // its own folder, resumed, not adopted
        Assert.Equal(Enumerable.Range(0, 5).ToDictionary(n => $"owned-{n}", _ => 1), await StoredIdCountsAsync());
    }
}
