using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Sinks;
using TrackMulti.Api.Sinks.Fme;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.HostedServices;

/// <summary>How the FME sink takes FME's answers, through the Api's own composition against the FME stand-in.</summary>
public sealed class FmeSinkTests : IAsyncLifetime
{
    private FmeStandIn _fme = null!;

    public async Task InitializeAsync() => _fme = await FmeStandIn.StartAsync();

    public async Task DisposeAsync() => await _fme.DisposeAsync();

    private BatchingHost Host(params (string Name, string Value)[] settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["BATCH_SIZE"] = "2",
            ["FME_FORWARD"] = "all",
            ["HARNESS_FME_API_KEY"] = "client-key",
            ["FME_EVENTS_URL"] = _fme.EventsUrl,
            ["FME_RETRIES"] = "1",
            ["FME_RETRY_BASE_DELAY_MS"] = "1",
            ["FME_PAUSE_MAX_SECONDS"] = "1",
        };
        foreach (var (name, value) in settings)
        {
            all[name] = value;
        }
        return new BatchingHost(all);
    }

    private static SinkStatus Fme(BatchingHost host) =>
        host.Services.GetServices<IDeliveryStatus>().Select(sink => sink.Status()).Single(status => status.Name == FmeSink.SinkName);

    [Fact]
    public async Task An_unauthorized_key_is_reported_and_retried_and_nothing_is_lost_once_FME_takes_it()
    {
        _fme.Answer = HttpStatusCode.Unauthorized;
        await using var host = await Host().StartAsync();

        await host.AppendAsync(2);
        await Poll.UntilAsync(() => Fme(host).ConsecutiveFailures >= 2);

        var failing = Fme(host);
        Assert.Contains("401", failing.LastError);
        Assert.Equal(2, failing.BacklogEvents);
        Assert.Equal(0, failing.DroppedEvents);
        var unauthorized = _fme.Posts.Count(p => p.Answered == HttpStatusCode.Unauthorized);
        Assert.InRange(unauthorized, failing.ConsecutiveFailures, failing.ConsecutiveFailures + 1); // one attempt a round: no quick retries

        _fme.Answer = null;
        await Poll.UntilAsync(() => _fme.AcceptedEvents().Count == 2);
        await Poll.UntilAsync(() => Fme(host) is { ConsecutiveFailures: 0, BacklogEvents: 0, LastError: null });
    }

    [Fact]
    public async Task A_post_FME_refuses_as_invalid_is_dropped_for_FME_with_its_S3_key_and_the_next_ones_go_on()
    {
        _fme.Answer = HttpStatusCode.BadRequest;
        await using var host = await Host().StartAsync();

        var first = (await host.AppendAsync(2))[1].Sealed!;
        await Poll.UntilAsync(() => Fme(host).DroppedEvents == 2);
        _fme.Answer = null;
        await host.AppendAsync(2, first: 3);

        await Poll.UntilAsync(() => _fme.AcceptedEvents().Count == 2);
        var status = Fme(host);
        Assert.StartsWith("rejected", status.LastDrop);
        Assert.Contains(first.Key, status.LastDrop);
        Assert.Equal(["user-3", "user-4"], _fme.AcceptedEvents().Select(e => e["key"]!.GetValue<string>()));
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(4, host.StoredValues().Count); // all of them in S3
    }

    [Fact]
    public async Task An_FME_backlog_bound_that_does_not_fit_in_the_spool_is_refused_on_start()
    {
        await using var host = Host(("SPOOL_MAX_BYTES", "1048576"), ("FME_MAX_BACKLOG_BYTES", "1048576"));

        var refused = await Assert.ThrowsAsync<OptionsValidationException>(host.StartAsync);

        Assert.Contains("FME_MAX_BACKLOG_BYTES", refused.Message);
        Assert.Contains("SPOOL_MAX_BYTES", refused.Message);
    }
}
