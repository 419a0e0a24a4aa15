using System.Diagnostics;

namespace TrackMulti.Api.Telemetry;

/// <summary>
/// The Api's own spans. A delivery runs in the background, so its span starts a trace of its own and links to the
/// track requests whose events it carries; the HTTP calls it makes (S3's PUT, FME's post) appear beneath it.
/// </summary>
public static class TrackTracing
{
    public const string SourceName = "TrackMulti.Api";
    public const string UploadSpanName = "upload batch";
    public const string FmePostSpanName = "post to FME";
    public const string ReplaySpanName = "replay";

    private static readonly ActivitySource Source = new(SourceName);

    public static Activity? StartDelivery(string name, IEnumerable<ActivityContext> origins) =>
        Source.StartActivity(name, ActivityKind.Internal, parentContext: default, links: origins.Select(origin => new ActivityLink(origin)));

    /// <summary>
    /// A span for one run of a replay (its start, or its resumption after a restart): a trace of its own, linked to the
    /// request that started it; its posts appear beneath it.
    /// </summary>
    public static Activity? StartReplay(string id, ActivityContext? startedBy)
    {
        Activity.Current = null; // not a child of the request that started it, which ends long before
        var span = Source.StartActivity(ReplaySpanName, ActivityKind.Internal, parentContext: default,
            links: startedBy is { } origin ? [new ActivityLink(origin)] : null);
        span?.SetTag("trackmulti.replay.id", id);
        return span;
    }
}
