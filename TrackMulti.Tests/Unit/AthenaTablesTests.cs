using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Model;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Unit;

public sealed class AthenaTablesTests
{
    /// <summary>A field added to a row model without its column would be invisible to Athena.</summary>
    [Theory]
    [InlineData(Streams.Track, typeof(TrackEvent))]
    [InlineData(Streams.Impressions, typeof(Impression))]
    [InlineData(Streams.ImpressionCounts, typeof(ImpressionCount))]
    public void Each_tables_columns_are_its_rows_fields_in_their_written_order(string stream, Type row)
    {
        var ignored = row.GetProperties()
            .Where(p => p.IsDefined(typeof(System.Text.Json.Serialization.JsonIgnoreAttribute), false))
            .Select(p => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(p.Name))
            .ToHashSet();
        var written = RowJsonContext.Default.GetTypeInfo(row)!.Properties
            .Where(p => !p.IsExtensionData && !ignored.Contains(p.Name))
            .OrderBy(p => p.Order)
            .Select(p => p.Name);

        Assert.Equal(written, AthenaTables.Tables.Single(t => t.Stream == stream).Columns.Select(c => c.Name));
    }

    /// <summary>
    /// Athena reads the DDL with Hive's lexer and parses <c>receivedAt</c> with the Joda-Time patterns of
    /// <c>timestamp.formats</c>: each NDJSON table's value, read as Hive reads it, must parse every time the Api
    /// writes, to the instant it wrote (a time no pattern parses is a null in Athena, silently).
    /// </summary>
    [Theory]
    [InlineData(Partitioning.None, Compression.None)]
    [InlineData(Partitioning.Daily, Compression.Gzip)]
    [InlineData(Partitioning.Hourly, Compression.Gzip)]
    public void Each_NDJSON_tables_timestamp_formats_as_Hive_reads_them_parse_every_receivedAt_the_Api_writes(Partitioning partitioning, Compression compression)
    {
        var tables = HiveDdl.CreateStatements(Ddl(ObjectFormat.Ndjson, partitioning, compression));
        Assert.Equal(AthenaTables.Tables.Count, tables.Count);

        foreach (var table in tables)
        {
            var name = table[6].Text; // CREATE EXTERNAL TABLE IF NOT EXISTS name
            var properties = HiveDdl.Properties(table, "SERDEPROPERTIES");
            Assert.True(properties.TryGetValue("timestamp.formats", out var value), $"{name} has no timestamp.formats");
            var formats = HiveDdl.TimestampFormats(value);
            foreach (var (written, expected) in ReceivedAtAsWritten())
            {
                // Hive's TimestampParser takes the first pattern that parses the whole value.
                var parsed = formats.Select(format => JodaPattern.Parse(format, written)).FirstOrDefault(time => time is not null);
                Assert.True(parsed == expected, $"{name}: '{written}' read as {parsed:O} with '{value}', written for {expected:O}");
            }
        }
    }

    /// <summary>
    /// SQL's doubled quote is no escape in Hive: <c>'a''b'</c> is two literals run together, read as <c>ab</c>. No
    /// literal in the tables may be written that way, in any layout: its value would silently lose its quotes.
    /// </summary>
    [Theory]
    [InlineData(ObjectFormat.Ndjson, Partitioning.None, Compression.None)]
    [InlineData(ObjectFormat.Ndjson, Partitioning.Hourly, Compression.Gzip)]
    [InlineData(ObjectFormat.Parquet, Partitioning.Daily, Compression.None)]
    public void No_string_literal_in_the_tables_is_two_literals_run_together(ObjectFormat format, Partitioning partitioning, Compression compression)
    {
        var joined = HiveDdl.CreateStatements(Ddl(format, partitioning, compression))
            .SelectMany(table => table)
            .Where(token => token.Kind == HiveDdl.TokenKind.StringLiteral && token.Parts > 1)
            .Select(token => $"{token.Text} (read as {token.Value})");

        Assert.Empty(joined);
    }

    /// <summary>The reader the tests above rely on reads the case as Hive does, and Joda refuses what it gives.</summary>
    [Fact]
    public void Hive_reads_doubled_quotes_as_literals_joined_and_Joda_refuses_the_pattern_that_leaves()
    {
        var doubled = Assert.Single(HiveDdl.Tokenise("'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''"));
        Assert.Equal((5, "yyyy-MM-ddTHH:mm:ss.SSSZ"), (doubled.Parts, doubled.Value));
        Assert.Throws<FormatException>(() => JodaPattern.ToDotNet(doubled.Value));

        var quotedInside = Assert.Single(HiveDdl.Tokenise("\"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'\""));
        Assert.Equal((1, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"), (quotedInside.Parts, quotedInside.Value));
        Assert.Equal(new DateTime(2025, 10, 24, 10, 30, 15, 456, DateTimeKind.Utc), JodaPattern.Parse(quotedInside.Value, "2025-10-24T10:30:15.456Z"));
    }

    private static string Ddl(ObjectFormat format, Partitioning partitioning, Compression compression) =>
        new AthenaTables(
            Options.Create(new S3Options { BucketName = "trackmulti-events" }),
            Options.Create(new ObjectLayout { Format = format, Partitioning = partitioning, Compression = compression })).Ddl();

    /// <summary>
    /// <c>receivedAt</c> as each row writer writes it (an event stored as sent, one read in full, an impression, a
    /// count), for times at the edges of a day, a year and a millisecond, and given in another offset; with the
    /// instant, in UTC to the millisecond, that each stands for.
    /// </summary>
    private static IEnumerable<(string Written, DateTime Expected)> ReceivedAtAsWritten()
    {
        DateTimeOffset[] times =
        [
            new(2025, 10, 24, 10, 30, 15, 456, TimeSpan.Zero),
            new(2026, 1, 1, 0, 0, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2025, 12, 31, 23, 59, 59, 999, TimeSpan.Zero).AddTicks(9_999),
            new(2028, 2, 29, 21, 2, 3, 7, TimeSpan.FromHours(-5)),
            DateTimeOffset.UtcNow,
        ];
        foreach (var time in times)
        {
            var expected = new DateTime(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerMillisecond, DateTimeKind.Utc);
            byte[][] lines =
            [
                TrackEventReader.Read(new ReadOnlySequence<byte>("""{"trafficType":"user","name":"a"}"""u8.ToArray()), time).Line!,
                TrackEventReader.Read(new ReadOnlySequence<byte>("""{ "name": "a", "trafficType": "user" }"""u8.ToArray()), time).Line!,
                new Impression { Feature = "f", Key = "k", Treatment = "on", Time = 1, ChangeNumber = 1, ReceivedAt = time }.ToJsonLine(),
                new ImpressionCount { Feature = "f", TimeFrame = 1, Count = 1, ReceivedAt = time }.ToJsonLine(),
            ];
            foreach (var line in lines)
            {
                using var row = JsonDocument.Parse(line);
                yield return (row.RootElement.GetProperty("receivedAt").GetString()!, expected);
            }
        }
    }
}
