using System.Diagnostics;
using TrackMulti.Api.Telemetry;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.HostedServices;

/// <summary>Each delivery (S3 upload, FME post) is a trace of its own that links back to the requests it carries.</summary>
public sealed class DeliveryTracingTests
{
    [Fact]
    public async Task The_S3_upload_and_the_FME_post_each_link_to_the_request_that_fed_them()
    {
        using var spans = new RecordedSpans();
        await using var fme = await FmeStandIn.StartAsync();
        await using var host = await new BatchingHost(new()
        {
            ["BATCH_SIZE"] = "1",
            ["FME_FORWARD"] = "all",
            ["HARNESS_FME_API_KEY"] = "client-key",
            ["FME_EVENTS_URL"] = fme.EventsUrl,
        }).StartAsync();
        var origin = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);

        await host.Writer.AppendAsync(BatchingHost.Event(1).ToJsonLine(), CancellationToken.None, origin);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        await Poll.UntilAsync(() => spans.Any(s => s.DisplayName == TrackTracing.FmePostSpanName && LinksTo(s, origin)));

        foreach (var name in new[] { TrackTracing.UploadSpanName, TrackTracing.FmePostSpanName })
        {
            var span = Assert.Single(spans, s => s.DisplayName == name && LinksTo(s, origin));
            Assert.NotEqual(origin.TraceId, span.TraceId); // a trace of its own, linked
        }
    }

    private static bool LinksTo(Activity span, ActivityContext origin) =>
        span.Links.Any(link => link.Context.TraceId == origin.TraceId && link.Context.SpanId == origin.SpanId);
}
