using System.Diagnostics;
using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Telemetry;

/// <summary>
/// The Api's own spans. An upload runs in the background, so its span starts a trace of its own and links to the
/// track requests whose events it carries; the AWS SDK's HTTP calls appear beneath it.
/// </summary>
public static class TrackTracing
{
    public const string SourceName = "TrackMulti.Api";
    public const string UploadSpanName = "upload batch";

    private static readonly ActivitySource Source = new(SourceName);

    public static Activity? StartUpload(SealedBatch batch, string bucket)
    {
        var activity = Source.StartActivity(
            UploadSpanName,
            ActivityKind.Internal,
            parentContext: default,
            links: batch.Origins.Select(origin => new ActivityLink(origin)));
        activity?.SetTag("aws.s3.bucket", bucket);
        activity?.SetTag("aws.s3.key", batch.Key);
        activity?.SetTag("trackmulti.batch.events", batch.EventCount);
        activity?.SetTag("trackmulti.batch.bytes", batch.ByteCount);
        return activity;
    }
}
