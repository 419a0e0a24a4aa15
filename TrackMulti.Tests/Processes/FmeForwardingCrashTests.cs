using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using TrackMulti.Api.Sinks.Fme;
using TrackMulti.Tests.Infrastructure;
using static TrackMulti.Tests.Infrastructure.FmeForwardingCheck;

namespace TrackMulti.Tests.Processes;

/// <summary>
/// The FME sink across a crash: FME failing for a while, then SIGKILL and a restart on the same spool. S3 must get
/// every acknowledged event exactly once; FME at least once, in Split's shape. (FME or S3 down without a crash:
/// <c>InProcess.FmeForwardingTests</c>.)
/// </summary>
public sealed class FmeForwardingCrashTests : IAsyncLifetime
{
    private readonly FmeForwardingCheck _check = FmeForwardingCheck.InSharedS3rver("fme-crash");

    public Task InitializeAsync() => _check.StartAsync();

    public async Task DisposeAsync() => await _check.DisposeAsync();

    private Task<ApiProcess> StartApiAsync(params (string Name, string Value)[] settings) => _check.Bucket.StartApiAsync(_check.Settings(settings));

    /// <summary>How long the senders may take to reach the point of the kill (they take seconds): a wait that had no end.</summary>
    private static readonly TimeSpan LoadBudget = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task With_FME_failing_for_a_while_and_a_SIGKILL_every_acknowledged_event_is_in_S3_once_and_in_FME_at_least_once()
    {
        var acknowledged = new ConcurrentBag<string>();
        _check.Fme.Answer = HttpStatusCode.InternalServerError;
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

            await Poll.UntilAsync(() => acknowledged.Count >= 200, budget: LoadBudget, every: TimeSpan.FromMilliseconds(5));
            Assert.True(_check.Fme.Refused > 0, "FME was never asked while it failed");
            _check.Fme.Answer = null; // FME recovers while events keep coming
            await Poll.UntilAsync(() => acknowledged.Count >= 500 || senders.All(s => s.IsCompleted), budget: LoadBudget, every: TimeSpan.FromMilliseconds(5));
            await api.Process.KillAsync();
            killAt.Cancel();
            await Task.WhenAll(senders);
        }

        await using (var restarted = await StartApiAsync(("BATCH_SIZE", "20")))
        {
            using var flush = await restarted.Http.PostAsync("/api/flush", null);
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
            await _check.WaitForFmeAsync([.. acknowledged]);
        }

        var stored = await _check.StoredIdCountsAsync();
        Assert.All(acknowledged, id => Assert.Equal(1, stored.GetValueOrDefault(id)));
        Assert.All(stored.Values, count => Assert.Equal(1, count));

        var accepted = _check.Fme.Posts.Where(p => p.Answered == HttpStatusCode.OK).ToList();
        Assert.All(_check.Fme.Posts, post =>
        {
            Assert.Equal("/events/bulk", post.Path);
            Assert.Equal($"Bearer {ServerKey}", post.Authorization);
            Assert.StartsWith("application/json", post.ContentType);
        });
        Assert.All(accepted, post => Assert.InRange(post.Events().Count, 1, FmeSender.MaxRowsPerPost));
        var sample = accepted.SelectMany(p => p.Events()).First();
        Assert.Equal(["eventTypeId", "trafficTypeName", "key", "value", "timestamp", "properties"], sample.Select(p => p.Key));
        Assert.Equal("fme_check", sample["eventTypeId"]!.GetValue<string>());
        Assert.Equal("user", sample["trafficTypeName"]!.GetValue<string>());
        Assert.Equal($"user-{IdOf(sample)}", sample["key"]!.GetValue<string>());
        Assert.Equal(1.5, sample["value"]!.GetValue<double>());
        Assert.InRange(sample["timestamp"]!.GetValue<long>(), DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        // At-least-once: one crash may send again at most the post that was in flight.
        var duplicates = _check.Fme.AcceptedEvents().GroupBy(IdOf).Sum(g => g.Count() - 1);
        Assert.InRange(duplicates, 0, FmeSender.MaxRowsPerPost);
        Assert.All(_check.Fme.AcceptedEvents().Select(IdOf), id => Assert.True(stored.ContainsKey(id), $"{id} reached FME but not S3"));
    }
}
