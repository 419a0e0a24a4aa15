namespace TrackMulti.Api.Model;

/// <summary>
/// The streams the Api writes, each into batches of its own. A spool segment carries its stream, so a sink can choose
/// what it takes (the FME sink forwards only what <c>FME_FORWARD</c> names) without reading the segment.
/// </summary>
public static class Streams
{
    /// <summary>Events sent to <c>POST /api/track</c> and <c>/api/batch</c>: the seed's row format, under <c>events/</c>.</summary>
    public const string Track = "track";

    /// <summary>Events the FME SDK posted to <c>/fme/api/events</c>: the same rows, under <c>events/</c> too.</summary>
    public const string SdkEvents = "sdk-events";

    /// <summary>Impressions the FME SDK posted (which treatment a key got), one row each, under <c>impressions/</c>.</summary>
    public const string Impressions = "impressions";

    /// <summary>The FME SDK's impression counts (its OPTIMIZED mode), under <c>impression-counts/</c>.</summary>
    public const string ImpressionCounts = "impression-counts";

    public static IReadOnlyList<string> All { get; } = [Track, SdkEvents, Impressions, ImpressionCounts];

    /// <summary>The streams that came through the FME SDK's own endpoints.</summary>
    public static bool IsFromFmeSdk(string stream) => stream is SdkEvents or Impressions or ImpressionCounts;

    /// <summary>Where a stream's objects go in the bucket: events from both ways in share one prefix and one schema.</summary>
    public static string PrefixOf(string stream) => stream switch
    {
        Track or SdkEvents => BatchKey.Prefix,
        Impressions => "impressions/",
        ImpressionCounts => "impression-counts/",
        _ => throw new ArgumentOutOfRangeException(nameof(stream), stream, "Not a stream the Api writes."),
    };

    /// <summary>
    /// The stream of a stored object written without its stream in metadata: by its prefix, and the seed's
    /// <c>events/</c> as <see cref="Track"/>.
    /// </summary>
    public static string OfKey(string key) =>
        key.StartsWith(PrefixOf(Impressions), StringComparison.Ordinal) ? Impressions
        : key.StartsWith(PrefixOf(ImpressionCounts), StringComparison.Ordinal) ? ImpressionCounts
        : Track;

    /// <summary>Stream names: short, lower-case, safe in a file name.</summary>
    public const string NamePattern = @"^[a-z][a-z0-9-]{0,31}\z";
}
