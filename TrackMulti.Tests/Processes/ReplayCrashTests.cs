using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;
using static TrackMulti.Tests.Infrastructure.FmeForwardingCheck;

namespace TrackMulti.Tests.Processes;

/// <summary>
/// A replay across a SIGKILL: its progress is on disk, so the restarted Api takes it up where it was and finishes;
/// FME gets every event of the window at least once, and again at most what was in flight.
/// (The replay's rules without a crash: <c>InProcess.ReplayTests</c>.)
/// </summary>
public sealed class ReplayCrashTests : IAsyncLifetime
{
    private readonly FmeForwardingCheck _check = FmeForwardingCheck.InSharedS3rver("replay-crash");

    public Task InitializeAsync() => _check.StartAsync();

    public async Task DisposeAsync() => await _check.DisposeAsync();

    private Task<ApiProcess> StartApiAsync() => _check.Bucket.StartApiAsync(_check.Settings(("FME_FORWARD", "sdk"), ("BATCH_SIZE", "1500")));

    [Fact]
    public async Task A_replay_killed_midway_goes_on_after_the_restart_and_delivers_the_whole_window()
    {
        // Two objects of three posts each: the kill comes within an object, so the restart must go on inside it.
        var tracked = Enumerable.Range(0, 3000).Select(n => $"k{n}").ToList();
        string id;
        await using (var api = await StartApiAsync())
        {
            var from = DateTimeOffset.UtcNow;
            foreach (var chunk in tracked.Chunk(500))
            {
                using var batch = await api.Http.PostAsJsonAsync("/api/batch", chunk.Select(id => Event(id)));
                Assert.Equal(HttpStatusCode.OK, batch.StatusCode);
            }
            var to = DateTimeOffset.UtcNow;
            _check.Fme.Delay = TimeSpan.FromMilliseconds(300);

            using var started = await api.Http.PostAsJsonAsync("/api/replay",
                new { sink = "fme", from = from.ToString("O"), to = to.ToString("O"), streams = new[] { "track" } });
            Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
            id = (await started.Content.ReadFromJsonAsync<JsonNode>())!["id"]!.GetValue<string>();
            await Poll.UntilAsync(() => Task.FromResult(_check.Fme.AcceptedEvents().Count >= 500), "the replay never got going");
            await api.Process.KillAsync();
        }
        var beforeKill = _check.Fme.AcceptedEvents().Select(IdOf).ToHashSet();
        Assert.InRange(beforeKill.Count, 500, tracked.Count - 500);

        _check.Fme.Delay = TimeSpan.Zero;
        await using var restarted = await StartApiAsync();
        JsonObject replay = null!;
        await Poll.UntilAsync(async () =>
        {
            replay = Assert.IsType<JsonObject>(await restarted.Http.GetFromJsonAsync<JsonNode>($"/api/replay/{id}"));
            return replay["state"]!.GetValue<string>() != "running";
        }, "the replay never finished after the restart", TimeSpan.FromSeconds(90));

        Assert.Equal("done", replay["state"]!.GetValue<string>());
        Assert.Equal(replay["objects"]!.GetValue<int>(), replay["objectsDone"]!.GetValue<int>());
        Assert.InRange(replay["events"]!.GetValue<long>(), tracked.Count, tracked.Count + 500);
        await _check.WaitForFmeAsync(tracked);
        // At least once: the kill may send again the post that was in flight (500 rows), no more.
        var duplicates = _check.Fme.AcceptedEvents().GroupBy(IdOf).Sum(sent => sent.Count() - 1);
        Assert.InRange(duplicates, 0, 500);
        Assert.Contains($"Replay {id} goes on", restarted.Output);
    }
}
