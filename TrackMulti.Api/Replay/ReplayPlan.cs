using System.Globalization;
using TrackMulti.Api.Model;
using TrackMulti.Api.Sinks.S3;

namespace TrackMulti.Api.Replay;

/// <summary>
/// Which stored objects may hold rows received in a window, from their keys alone. A key carries its batch's first
/// row's time, and a batch holds rows from then until it was sealed, at most <c>BATCH_MAX_AGE_SECONDS</c> later; so
/// the objects to read are those whose key time lies in <c>[from - lookback, to)</c>, flat or in any partition.
/// </summary>
public static class ReplayPlan
{
    public static async Task<List<string>> KeysAsync(
        IObjectStore store, IEnumerable<string> prefixes, DateTimeOffset earliest, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        foreach (var prefix in prefixes.Distinct())
        {
            // Flat keys (the seed's layout) sort by time: stop at the first one past the window.
            await foreach (var key in store.ListKeysAsync(prefix + "batch-", BatchKey.EarliestAt(earliest, prefix: prefix), cancellationToken))
            {
                if (!BatchKey.TryReadFirstReceivedAt(key, out var first))
                {
                    continue;
                }
                if (first >= to)
                {
                    break;
                }
                keys.Add(key);
            }

            // Partitioned keys sort by day (then hour, then time): stop at the first day past the window's last.
            var partitions = prefix + "dt=";
            var lastDay = to.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            await foreach (var key in store.ListKeysAsync(partitions, partitions + earliest.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), cancellationToken))
            {
                if (key.Length >= partitions.Length + lastDay.Length
                    && string.CompareOrdinal(key, partitions.Length, lastDay, 0, lastDay.Length) > 0)
                {
                    break;
                }
                if (BatchKey.TryReadFirstReceivedAt(key, out var first) && first >= earliest && first < to)
                {
                    keys.Add(key);
                }
            }
        }
        return keys;
    }
}
