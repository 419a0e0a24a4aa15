using System.Globalization;
using System.Text.RegularExpressions;

namespace TrackMulti.Api.Model;

/// <summary>
/// The one object-key format. It starts with the seed's <c>events/batch-&lt;UTC time&gt;</c> so existing tooling still
/// matches, then adds the writing instance and the batch's number so two batches never share a key — not two flushes
/// in one millisecond, not two replicas, not two runs of one replica. Each stream has its prefix
/// (<see cref="Streams.PrefixOf"/>); the rest of the key is the same for all.
/// </summary>
public static partial class BatchKey
{
    /// <summary>The events' prefix (the seed's), where both ways in land.</summary>
    public const string Prefix = "events/";
    public const string Extension = ".ndjson";

    /// <summary>The key of a batch whose first row was received at <paramref name="firstReceivedAt"/>, in its partition.</summary>
    /// <example><c>events/batch-2025-10-24T10-30-15-123Z-3f9c2a1b-000042.ndjson</c>; hourly and gzip:
    /// <c>events/dt=2025-10-24/hour=10/batch-2025-10-24T10-30-15-123Z-3f9c2a1b-000042.ndjson.gz</c></example>
    public static string For(string stream, DateTimeOffset firstReceivedAt, string instanceId, long number, ObjectLayout? layout = null)
    {
        layout ??= new ObjectLayout();
        return string.Create(CultureInfo.InvariantCulture,
            $"{Streams.PrefixOf(stream)}{layout.PartitionOf(firstReceivedAt)}batch-{firstReceivedAt.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture)}-{instanceId}-{number:D6}{layout.Extension}");
    }

    /// <summary>
    /// Sorts before the key of every batch begun at or after <paramref name="time"/> in one partition of one prefix
    /// (the events' by default), for listing from a time on.
    /// </summary>
    public static string EarliestAt(DateTimeOffset time, string partition = "", string prefix = Prefix) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{partition}batch-{time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture)}");

    /// <summary>
    /// The time a stored object's first row was received, read from its key: this format, or the seed's
    /// (<c>events/batch-&lt;time&gt;.ndjson</c>), flat or in a partition. False for any other key.
    /// </summary>
    public static bool TryReadFirstReceivedAt(string key, out DateTimeOffset firstReceivedAt)
    {
        firstReceivedAt = default;
        return StoredKeyPattern().Match(key) is { Success: true } match
            && DateTimeOffset.TryParseExact(match.Groups["time"].Value, TimeFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out firstReceivedAt);
    }

    /// <summary>Instance ids are short, lower-case and safe in a key: letters, digits and '-'.</summary>
    public static bool IsValidInstanceId(string instanceId) => InstanceIdPattern().IsMatch(instanceId);

    /// <summary>A fresh id for a process that was not given one: random, so restarts never reuse keys.</summary>
    public static string NewInstanceId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));

    /// <summary>Instance ids: 1-32 of a-z, 0-9 and '-', starting with a letter or digit (safe in a key).</summary>
    public const string InstanceIdPatternText = @"^[a-z0-9][a-z0-9-]{0,31}\z"; // \z: $ would allow a final newline

    private const string TimeFormat = "yyyy-MM-dd'T'HH-mm-ss-fff'Z'";

    [GeneratedRegex(@"^[a-z-]+/(?:dt=\d{4}-\d{2}-\d{2}/(?:hour=\d{2}/)?)?batch-(?<time>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)(?:-[a-z0-9][a-z0-9-]*-\d+)?\.(?:ndjson(?:\.gz)?|parquet)\z")]
    private static partial Regex StoredKeyPattern();

    [GeneratedRegex(InstanceIdPatternText)]
    private static partial Regex InstanceIdPattern();
}
