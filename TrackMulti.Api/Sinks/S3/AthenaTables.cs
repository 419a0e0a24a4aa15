using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Sinks.S3;

/// <summary>
/// The Athena tables over this Api's objects, for its bucket and layout: <c>CREATE EXTERNAL TABLE</c> for events,
/// impressions and impression counts (NDJSON through the Hive JSON SerDe, which AWS recommends over OpenX, gzip read
/// by the key's extension; or Parquet), with partition projection when the keys are partitioned, and example queries.
/// </summary>
public sealed class AthenaTables(IOptions<S3Options> s3, IOptions<ObjectLayout> layout)
{
    /// <summary>Each NDJSON table's columns, in the order the rows are written (a test holds them to the row models).</summary>
    public static readonly IReadOnlyList<(string Table, string Stream, IReadOnlyList<(string Name, string Type)> Columns)> Tables =
    [
        ("trackmulti_events", Streams.Track,
        [
            ("trafficType", "string"), ("name", "string"), ("key", "string"), ("value", "double"),
            ("properties", "map<string,string>"), ("timestamp", "string"), ("receivedAt", "timestamp"),
        ]),
        ("trackmulti_impressions", Streams.Impressions,
        [
            ("feature", "string"), ("key", "string"), ("treatment", "string"), ("time", "bigint"), ("changeNumber", "bigint"),
            ("label", "string"), ("bucketingKey", "string"), ("previousTime", "bigint"), ("receivedAt", "timestamp"),
        ]),
        ("trackmulti_impression_counts", Streams.ImpressionCounts,
        [
            ("feature", "string"), ("timeFrame", "bigint"), ("count", "bigint"), ("receivedAt", "timestamp"),
        ]),
    ];

    public string Ddl()
    {
        var text = new StringBuilder();
        var settings = layout.Value;
        text.AppendLine(CultureInfo.InvariantCulture, $"-- Athena tables over s3://{s3.Value.BucketName}/ (S3_FORMAT={settings.Format.ToString().ToLowerInvariant()}, S3_PARTITIONING={settings.Partitioning.ToString().ToLowerInvariant()}, S3_COMPRESSION={settings.Compression.ToString().ToLowerInvariant()}), printed by TrackMulti's Api.");
        foreach (var (table, stream, columns) in Tables)
        {
            text.AppendLine().Append(Table(table, stream, settings.Format == ObjectFormat.Parquet ? ParquetColumns(stream) : columns));
        }
        text.AppendLine().Append(Examples());
        return text.ToString();
    }

    private string Table(string table, string stream, IReadOnlyList<(string Name, string Type)> columns)
    {
        var location = $"s3://{s3.Value.BucketName}/{Streams.PrefixOf(stream)}";
        var partitioning = layout.Value.Partitioning;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"CREATE EXTERNAL TABLE IF NOT EXISTS {table} (");
        text.AppendLine(string.Join(",\n", columns.Select(c => $"  `{c.Name}` {c.Type}")));
        text.AppendLine(")");
        if (partitioning != Partitioning.None)
        {
            text.AppendLine(partitioning == Partitioning.Hourly ? "PARTITIONED BY (`dt` string, `hour` string)" : "PARTITIONED BY (`dt` string)");
        }
        if (layout.Value.Format == ObjectFormat.Parquet)
        {
            text.AppendLine("STORED AS PARQUET");
        }
        else
        {
            text.AppendLine("ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'");
            // Hive's lexer joins adjacent literals ('a''b' reads as ab, with no quote), so the Joda pattern, whose
            // literals need single quotes, is a double-quoted string, as in AWS's examples.
            text.AppendLine("""WITH SERDEPROPERTIES ("timestamp.formats" = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")""");
            text.AppendLine("STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'");
            text.AppendLine("OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'");
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"LOCATION '{location}'");
        if (partitioning != Partitioning.None)
        {
            // Partition projection: Athena computes the partitions from the key layout, no crawler or MSCK needed.
            var template = partitioning == Partitioning.Hourly ? $"{location}dt=${{dt}}/hour=${{hour}}/" : $"{location}dt=${{dt}}/";
            text.AppendLine("TBLPROPERTIES (");
            text.AppendLine("  'projection.enabled' = 'true',");
            text.AppendLine("  'projection.dt.type' = 'date',");
            text.AppendLine("  'projection.dt.format' = 'yyyy-MM-dd',");
            text.AppendLine("  'projection.dt.range' = '2025-01-01,NOW',");
            text.AppendLine("  'projection.dt.interval' = '1',");
            text.AppendLine("  'projection.dt.interval.unit' = 'DAYS',");
            if (partitioning == Partitioning.Hourly)
            {
                text.AppendLine("  'projection.hour.type' = 'integer',");
                text.AppendLine("  'projection.hour.range' = '0,23',");
                text.AppendLine("  'projection.hour.digits' = '2',");
            }
            text.AppendLine(CultureInfo.InvariantCulture, $"  'storage.location.template' = '{template}'");
            text.AppendLine(");");
        }
        else
        {
            text.AppendLine(";");
        }
        return text.ToString();
    }

    /// <summary>The Parquet rows' columns: typed, with <c>properties</c> and other fields as JSON text.</summary>
    private static IReadOnlyList<(string Name, string Type)> ParquetColumns(string stream) =>
        [.. ParquetRows.ColumnsOf(stream).Select(c => (c.Name, c.Type == typeof(string) ? "string"
            : c.Type == typeof(double) ? "double"
            : c.Type == typeof(long) ? "bigint"
            : c.Type == typeof(DateTime) ? "timestamp"
            : throw new InvalidOperationException($"No Athena type for the Parquet column {c.Name} ({c.Type}).")))];

    private string Examples()
    {
        var day = layout.Value.Partitioning == Partitioning.None ? "date(receivedAt)" : "dt";
        return $"""
            -- Events per name per day.
            SELECT {day} AS day, name, count(*) AS events
            FROM trackmulti_events
            GROUP BY 1, 2
            ORDER BY 1, 3 DESC;

            -- An experiment: for each treatment of a flag, the keys that saw it and how many of them clicked afterwards.
            SELECT i.treatment, count(DISTINCT i.key) AS keys, count(DISTINCT e.key) AS clicked
            FROM trackmulti_impressions i
            LEFT JOIN trackmulti_events e
              ON e.key = i.key AND e.name = 'button_click' AND e.receivedAt >= from_unixtime(i.time / 1000)
            WHERE i.feature = 'trackmulti_demo'
            GROUP BY i.treatment;

            """;
    }
}
