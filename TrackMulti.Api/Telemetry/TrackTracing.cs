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

    private static readonly ActivitySource Source = new(SourceName);

    public static Activity? StartDelivery(string name, IEnumerable<ActivityContext> origins) =>
        Source.StartActivity(name, ActivityKind.Internal, parentContext: default, links: origins.Select(origin => new ActivityLink(origin)));
}
