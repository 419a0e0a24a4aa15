namespace TrackMulti.Api.Model;

/// <summary>
/// The streams the Api writes, each into batches of its own. A spool segment carries its stream, so a sink can choose
/// what it takes (the FME sink forwards only what <c>FME_FORWARD</c> names) without reading the segment.
/// </summary>
public static class Streams
{
    /// <summary>Events sent to <c>POST /api/track</c>: the seed's row format, under <c>events/</c>.</summary>
    public const string Track = "track";

    /// <summary>Stream names: short, lower-case, safe in a file name.</summary>
    public const string NamePattern = @"^[a-z][a-z0-9-]{0,31}\z";
}
