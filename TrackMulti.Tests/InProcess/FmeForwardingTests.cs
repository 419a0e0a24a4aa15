using System.Net;
using TrackMulti.Tests.Infrastructure;
using static TrackMulti.Tests.Infrastructure.FmeForwardingCheck;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// The FME sink against a stand-in for FME's events API, with real S3 (an s3rver of the test's own, stopped on
/// purpose) and real faults: FME down for good, S3 down, FME off. S3 must get every acknowledged event exactly once;
/// FME at least once, in Split's shape. (Across a SIGKILL: <c>Processes.FmeForwardingCrashTests</c>.)
/// </summary>
public sealed class FmeForwardingTests : IAsyncLifetime
{
    private readonly FmeForwardingCheck _check = FmeForwardingCheck.WithOwnS3rver("fme-forwarding");

    public Task InitializeAsync() => _check.StartAsync();

    public async Task DisposeAsync() => await _check.DisposeAsync();

    private Task<ApiHost> StartApiAsync(params (string Name, string Value)[] settings) => ApiHost.StartAsync(_check.Bucket, _check.Settings(settings));

    [Fact]
    public async Task With_FME_down_for_good_S3_still_lands_flush_answers_and_past_the_cap_only_FME_drops_naming_the_S3_keys()
    {
        _check.Fme.Answer = HttpStatusCode.ServiceUnavailable;
        await using var api = await StartApiAsync(("BATCH_SIZE", "10"), ("FME_MAX_BACKLOG_BYTES", "3000"));
        var ids = Enumerable.Range(0, 60).Select(n => $"d{n}").ToList();

        await TrackAsync(api.Http, ids);
        using var flush = await api.Http.PostAsync("/api/flush", null);

        Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        var stored = await _check.StoredIdCountsAsync();
        Assert.Equal(ids.Order(), stored.Keys.Order());
        var fme = (await api.StatusAsync())["sinks"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "fme")!;
        Assert.InRange(fme["backlogBytes"]!.GetValue<long>(), 1, 3000);
        Assert.InRange(fme["backlogEvents"]!.GetValue<long>(), 1, 59);
        Assert.True(fme["consecutiveFailures"]!.GetValue<int>() >= 1);
        Assert.Contains("503", fme["lastError"]!.GetValue<string>());
        Assert.Empty(_check.Fme.AcceptedEvents());

        var keys = (await _check.Bucket.ObjectsAsync()).Select(o => o.Key).ToList();
        var dropLines = api.Logs.GetSnapshot().Select(r => r.Message).Where(line => line.Contains("not forwarded to FME")).ToList();
        Assert.NotEmpty(dropLines);
        Assert.All(dropLines, line => Assert.Contains(keys, key => line.Contains(key)));
    }

    [Fact]
    public async Task With_S3_down_FME_still_receives_and_no_segment_is_freed_before_S3_confirmed_it()
    {
        await _check.Bucket.S3.StopAsync();
        await using var api = await StartApiAsync(("BATCH_SIZE", "10"), ("DOTNET_shutdownTimeoutSeconds", "2"));
        var keyed = Enumerable.Range(0, 29).Select(n => $"s{n}").ToList();

        await TrackAsync(api.Http, keyed.Take(15));
        await TrackAsync(api.Http, ["no-key"], withKey: false); // FME cannot take it: skipped, never in the way
        await TrackAsync(api.Http, keyed.Skip(15));
        await _check.WaitForFmeAsync(keyed);

        var sealedFiles = Directory.GetFiles(Path.Combine(_check.Bucket.ApiSpool, "sealed"));
        Assert.Equal(3, sealedFiles.Length);
        // FME acknowledges a batch once its post is answered, a moment after the stand-in has the events.
        static int FmeBacklog(System.Text.Json.Nodes.JsonObject status) =>
            status["sinks"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "fme")!["backlogSegments"]!.GetValue<int>();
        var status = await Poll.UntilAsync(api.StatusAsync, status => FmeBacklog(status) == 0,
            status => $"the FME sink never acknowledged its last segments: {FmeBacklog(status)} wait");
        Assert.Equal(3, status["batchesAwaitingUpload"]!.GetValue<int>());
        Assert.DoesNotContain(_check.Fme.AcceptedEvents(), e => IdOf(e) == "no-key");

        await _check.Bucket.S3.StartAgainAsync();
        using var flush = await api.Http.PostAsync("/api/flush", null);
        Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        // Once both sinks have them, the segments go (deleted off the sinks' threads, soon after).
        var sealedFolder = Path.Combine(_check.Bucket.ApiSpool, "sealed");
        await Poll.UntilAsync(() => Directory.GetFiles(sealedFolder).Length == 0);
        var stored = await _check.StoredIdCountsAsync();
        Assert.Equal(keyed.Append("no-key").Order(), stored.Keys.Order());
        Assert.All(stored.Values, count => Assert.Equal(1, count));
    }

    [Fact]
    public async Task With_the_offline_localhost_key_nothing_is_forwarded()
    {
        await using var api = await StartApiAsync(("BATCH_SIZE", "2"), ("HARNESS_FME_SERVER_KEY", ""), ("HARNESS_FME_API_KEY", "localhost"));

        await TrackAsync(api.Http, ["l1", "l2", "l3"]);
        using var flush = await api.Http.PostAsync("/api/flush", null);

        Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        Assert.Equal(3, (await _check.StoredIdCountsAsync()).Count);
        var status = await api.StatusAsync();
        Assert.StartsWith("off", status["fmeForwarding"]!.GetValue<string>());
        // No FME sink exists at all, so nothing can post later either; no wait is needed before the last check.
        Assert.Equal(["s3"], status["sinks"]!.AsArray().Select(s => s!["name"]!.GetValue<string>()));
        Assert.Empty(_check.Fme.Posts);
    }
}
